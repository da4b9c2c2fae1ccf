"""The solo worker's supervisor side: which pool a worker gets, node names, and the kill
of a process whose job outlived its hard limit."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from asyncml.cli import main
from asyncml.settings import Settings
from asyncml.supervise import Child
from asyncml.worker.processes import _kill_overdue, node_name
from asyncml.worker.solo import InHand

REDIS = "redis://127.0.0.1:6379/5"
AMQP = "amqp://guest:guest@127.0.0.1:5672//"


@pytest.mark.parametrize(
    ("broker", "pool", "expected"),
    [
        (None, "auto", "solo"),  # the embedded layout: a Redis broker
        (REDIS, "auto", "solo"),
        (AMQP, "auto", "prefork"),
        (REDIS, "prefork", "prefork"),
    ],
)
def test_auto_is_solo_on_redis_and_prefork_on_rabbitmq(
    broker: str | None, pool: str, expected: str
) -> None:
    store = REDIS if broker else None
    settings = Settings(broker_url=broker, store_url=store, worker_pool=pool)
    assert settings.effective_worker_pool == expected


def test_solo_on_rabbitmq_is_refused_with_what_to_do(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASYNCML_BROKER_URL", AMQP)
    monkeypatch.setenv("ASYNCML_STORE_URL", REDIS)
    result = CliRunner().invoke(main, ["worker", "--pool", "solo"])
    assert result.exit_code == 2
    assert "the solo pool needs a Redis broker" in result.output
    assert "--pool prefork" in result.output


def test_each_process_gets_its_own_node_name() -> None:
    assert node_name("audio@host-1", 0) == "audio.0@host-1"
    assert node_name("audio", 1) == "audio.1"
    assert node_name(None, 0) is None  # each names itself after its pid


def test_a_process_past_its_hard_deadline_is_killed(tmp_path: Path) -> None:
    late, on_time, idle = (
        Child(name, [sys.executable, "-c", "import time; time.sleep(60)"])
        for name in ("late", "on time", "idle")
    )
    files = {child.name: tmp_path / child.name for child in (late, on_time, idle)}
    for child in (late, on_time, idle):
        child.start({})
    try:
        InHand(files["late"]).running(time.monotonic() - 10)
        InHand(files["on time"]).running(time.monotonic() + 60)
        InHand(files["idle"])  # no job: deadline 0
        _kill_overdue([late, on_time, idle], files)
        assert late.process is not None and late.process.wait(10) == -9
        assert on_time.alive() and idle.alive()
    finally:
        for child in (late, on_time, idle):
            if child.process is not None:
                child.process.kill()
                child.process.wait()
