"""``asyncml demo`` end to end, as a user runs it: it starts its own embedded asyncml,
serves its corpus, runs the original client's scenario and prints the table."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration


def test_demo_runs_the_original_scenario(tmp_path: Path) -> None:
    scratch = tmp_path / "tmp"  # where the demo's temporary system lives, to check cleanup
    scratch.mkdir()
    env = os.environ | {"TMPDIR": str(scratch), "COLUMNS": "200"}
    env.pop("ASYNCML_URL", None)
    run = subprocess.run(
        [sys.executable, "-m", "asyncml", "demo", "--synthetic", "--data-dir", str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=170,
    )
    out = run.stdout
    assert run.returncode == 0, out + run.stderr
    assert "audio.length: 55 files" in out
    assert "euro.results: the last 15 days (demo data: made-up numbers)" in out
    assert "OSR_us_000_0010_8k.wav" in out and "OSR_us_000_0064_8k.wav" in out
    assert "expected download_failed: no such file, as on the real site (HTTP 404)" in out
    assert "expected no_draw_on_date: no draw on" in out
    assert "0 unexpected" in out and "UNEXPECTED" not in out
    # audio.gender runs when the API offers it, and says so when it does not.
    assert ("audio.gender: 55 files" in out) != ("audio.gender skipped" in out)
    assert (tmp_path / "demo" / "corpus" / "synthetic" / "manifest.json").is_file()
    assert not list(scratch.glob("asyncml-demo-*")), "the temporary system was not removed"
