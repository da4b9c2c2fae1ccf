"""The ``asyncml`` command's start-up checks, run in-process with click's runner."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from asyncml.cli import main


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
