"""The ``asyncml`` command's start-up checks, run in-process with click's runner."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from asyncml.cli import main
from tests.conftest import UNIT_DB


@pytest.mark.parametrize("command", ["api", "worker", "up"])
def test_a_wrong_setting_stops_the_start_naming_the_variable(command: str, tmp_path: Path) -> None:
    env = {"ASYNCML_DATA_DIR": str(tmp_path), "ASYNCML_EGRESS_ALLOW": "http://127.0.0.1:8765"}
    result = CliRunner().invoke(main, [command], env=env)
    assert result.exit_code == 1
    assert "ASYNCML_EGRESS_ALLOW: invalid egress allow entry 'http://127.0.0.1:8765'" in (
        result.output
    )
    assert "127.0.0.1:8765, files.local:8080" in result.output  # the accepted forms
    assert not (tmp_path / "valkey.sock").exists()  # refused before anything started


def test_options_after_a_double_dash_go_to_celerys_worker(tmp_path: Path) -> None:
    # Celery's own worker answers --help with its options: the option reached it.
    env = os.environ | {
        "ASYNCML_DATA_DIR": str(tmp_path),
        "ASYNCML_BROKER_URL": f"redis://127.0.0.1:6379/{UNIT_DB}",
        "ASYNCML_STORE_URL": f"redis://127.0.0.1:6379/{UNIT_DB}",
    }
    command = [sys.executable, "-m", "asyncml", "worker", "--pool", "prefork", "--queues"]
    done = subprocess.run(
        [*command, "euro", "--", "--help"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "--max-tasks-per-child" in done.stdout  # Celery's, not asyncml's
