"""``asyncml doctor``: the effective settings with their sources, and checks of the store,
the broker and the workers against a real Redis."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis
from click.testing import CliRunner

from asyncml.cli import main
from tests.conftest import UNIT_DB, require_service
from tests.registry import register_builtins

KEY = "k" * 32


def _doctor(tmp_path: Path, *args: str, **env: str) -> tuple[int, str]:
    base = {"ASYNCML_DATA_DIR": str(tmp_path), "ASYNCML_BROKER_URL": "", "ASYNCML_STORE_URL": ""}
    result = CliRunner().invoke(main, ["doctor", *args], env=base | env)
    return result.exit_code, result.output


def _line(output: str, variable: str) -> str:
    return next(line for line in output.splitlines() if line.startswith(variable + " "))


def test_settings_show_their_source_and_hide_secrets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("ASYNCML_RATE_LIMIT=20/s\n")
    code, output = _doctor(tmp_path, ASYNCML_PORT="5098", ASYNCML_API_KEYS=f"ops:{KEY}")
    assert _line(output, "ASYNCML_PORT").endswith("5098  [environment]")
    assert _line(output, "ASYNCML_RATE_LIMIT").endswith("20/s  [.env]")
    assert _line(output, "ASYNCML_HOST").endswith("127.0.0.1  [default]")
    assert "(set, hidden)" in _line(output, "ASYNCML_API_KEYS") and KEY not in output
    # Nothing started it: the embedded server is not running, and doctor says so.
    assert code == 1 and "FAIL  store: the embedded Valkey is not running" in output
    assert not (tmp_path / "valkey.sock").exists()


def test_checks_against_a_real_store_and_broker(tmp_path: Path) -> None:
    require_service("Redis", "127.0.0.1", 6379)
    url = f"redis://127.0.0.1:6379/{UNIT_DB}"
    redis.Redis.from_url(url).flushdb()
    env = {"ASYNCML_BROKER_URL": url, "ASYNCML_STORE_URL": url}
    code, output = _doctor(tmp_path, **env)
    assert "ok    store: " in output and "ok    broker: " in output
    assert code == 1 and "FAIL  workers: no task registered" in output
    register_builtins(url)
    code, output = _doctor(tmp_path, **env)
    assert code == 1 and "FAIL  workers: online per task: audio.gender@1: 0" in output
    down = {"ASYNCML_BROKER_URL": "redis://127.0.0.1:9/0", "ASYNCML_STORE_URL": url}
    code, output = _doctor(tmp_path, **down)
    assert code == 1 and "FAIL  broker: redis://127.0.0.1:9/0" in output
