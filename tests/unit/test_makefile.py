"""The Makefile on a fresh clone: `make up` installs the runtime only, `make test` (what
.ci/run calls) the test tools too. Checked with make's dry run against an absent venv."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="needs make")


def _plan(target: str, venv: Path) -> str:
    done = subprocess.run(
        ["make", "-n", "--no-print-directory", "-C", str(ROOT), target, f"VENV={venv}"],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


def test_make_up_installs_the_runtime_only(tmp_path: Path) -> None:
    plan = _plan("up", tmp_path / "venv")
    assert "pip install --quiet -e .\n" in plan
    assert "[dev]" not in plan and "[test]" not in plan


def test_make_test_adds_the_test_tools_on_a_fresh_clone(tmp_path: Path) -> None:
    plan = _plan("test", tmp_path / "venv")
    assert "pip install --quiet -e .\n" in plan
    assert "pip install --quiet -e '.[dev]'" in plan
    # the whole suite, a test module to each of two processes (tests/conftest.py gives each
    # its own test slot)
    assert plan.rstrip().endswith("/venv/bin/pytest -n 2 --dist loadfile")
