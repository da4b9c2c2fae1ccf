"""Real recorded speech from Debian packages, labelled by ``data/real-speech-labels.csv``.

Each row of the table names a package, a speaker, the speaker's sex, a glob of the files
that speaker recorded (``archive.zip!glob`` for files inside a zip), their format, and how
the sex is known. ``set`` is ``real`` (used for training and leave-one-speaker-out
evaluation), ``stress`` (acted, stylised game voices) or ``heldout`` (sets whose speakers
are not known one by one, so leave-one-speaker-out could not keep them apart): the last
two are scored by the shipped model and reported apart, never trained on.

Utterances are shuffled (seed 1, so that a clip mixes topics), joined with short gaps
until a clip holds at least ``min_seconds``, and capped at ``max_clips`` clips a speaker.
``apt-packages`` lists what to install.
"""

from __future__ import annotations

import csv
import fnmatch
import glob
import io
import random
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

REPO = Path(__file__).resolve().parent.parent
LABELS = REPO / "data" / "real-speech-labels.csv"
ALS_HEADER = 32  # Drascula's .ALS: a 32-byte header, then unsigned 8-bit mono at 11025 Hz
ALS_RATE = 11025


@dataclass(frozen=True)
class Speaker:
    set: str  # real | stress
    package: str
    speaker: str
    sex: str
    pattern: str
    format: str
    label_source: str


@dataclass(frozen=True)
class RealClip:
    name: str
    package: str
    speaker: str
    sex: str
    set: str
    samples: np.ndarray
    rate: int


def speakers(path: Path = LABELS) -> list[Speaker]:
    with path.open(newline="") as f:
        return [Speaker(**row) for row in csv.DictReader(f)]


def apt_packages(path: Path = LABELS) -> list[str]:
    return sorted({s.package for s in speakers(path)})


def _files(pattern: str) -> list[str]:
    if "!" in pattern:
        archive, _, inner = pattern.partition("!")
        if not Path(archive).exists():
            return []
        with zipfile.ZipFile(archive) as z:
            return [f"{archive}!{n}" for n in sorted(fnmatch.filter(z.namelist(), inner))]
    return sorted(glob.glob(pattern, recursive=True))


def read(path: str, fmt: str) -> tuple[np.ndarray, int]:
    """Mono float32 samples and rate of one file in one of the table's formats."""
    if fmt == "zip":  # Ogg Vorbis inside a zip archive
        archive, _, inner = path.partition("!")
        with zipfile.ZipFile(archive) as z:
            data, rate = sf.read(io.BytesIO(z.read(inner)), dtype="float32", always_2d=False)
    elif fmt == "gsm":  # Asterisk's raw GSM 06.10 at 8 kHz, no header
        data, rate = sf.read(
            path, format="RAW", subtype="GSM610", samplerate=8000, channels=1, dtype="float32"
        )
    elif fmt == "als":
        raw = np.fromfile(path, dtype=np.uint8)[ALS_HEADER:]
        data, rate = (raw.astype(np.float32) - 128.0) / 128.0, ALS_RATE
    else:
        data, rate = sf.read(path, dtype="float32", always_2d=False)
    if data.ndim == 2:
        data = data.mean(axis=1)
    return np.asarray(data, dtype=np.float32), int(rate)


def clips(
    who: Speaker, *, min_seconds: float = 4.0, max_clips: int = 30, gap_s: float = 0.25
) -> Iterator[RealClip]:
    files = _files(who.pattern)
    random.Random(1).shuffle(files)
    parts: list[np.ndarray] = []
    made, length, rate = 0, 0, 0
    for path in files:
        data, this_rate = read(path, who.format)
        if rate and this_rate != rate:
            continue  # a clip keeps one rate; the packages here have one rate per speaker
        rate = this_rate
        parts += [data, np.zeros(int(gap_s * rate), dtype=np.float32)]
        length += len(data) + int(gap_s * rate)
        if length >= min_seconds * rate:
            name = f"{who.package}:{who.speaker}/{made:02d}"
            yield RealClip(
                name, who.package, who.speaker, who.sex, who.set, np.concatenate(parts), rate
            )
            parts, length, made = [], 0, made + 1
            if made >= max_clips:
                return


def all_clips(max_clips: int = 30) -> Iterator[RealClip]:
    """Every speaker's clips, in table order; a speaker whose package is missing has none."""
    for who in speakers():
        yield from clips(who, max_clips=max_clips)


if __name__ == "__main__":
    counts: dict[str, int] = {}
    for clip in all_clips():
        counts[clip.speaker] = counts.get(clip.speaker, 0) + 1
    for who in speakers():
        print(f"{who.set:7} {who.sex:7} {who.speaker:24} {counts.get(who.speaker, 0)} clips")
