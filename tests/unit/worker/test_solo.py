"""Time limits of a solo worker process: the soft limit raises in the task, the hard limit
ends the process after recording the job; and the in-hand message's tag is written down."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from celery import Celery
from celery.exceptions import SoftTimeLimitExceeded
from kombu.asynchronous import Hub

from asyncml.worker.solo import HARD_LIMIT_EXIT, ImmediateAckConsumer, TimeLimits, _limits_of


def _task(timelimit: Any = None, soft: Any = None, hard: Any = None) -> Any:
    app = Celery(set_as_current=False)
    app.conf.task_soft_time_limit = 8
    app.conf.task_time_limit = 10
    return SimpleNamespace(
        app=app,
        request=SimpleNamespace(timelimit=timelimit, id="job-1"),
        soft_time_limit=soft,
        time_limit=hard,
    )


def test_limits_come_from_the_message_then_the_task_then_the_app() -> None:
    assert _limits_of(_task()) == (8, 10)
    assert _limits_of(_task(soft=3, hard=4)) == (3, 4)
    assert _limits_of(_task([6, 5], soft=3, hard=4)) == (5, 6)  # the header is [hard, soft]


def test_soft_limit_raises_in_the_running_task_and_disarm_stops_it() -> None:
    limits = TimeLimits(on_hard_limit=lambda task: None)
    limits.arm(_task(), 0.2, None)
    started = time.monotonic()
    with pytest.raises(SoftTimeLimitExceeded):
        time.sleep(5)
    assert time.monotonic() - started < 4
    limits.disarm()

    limits.arm(_task(), 0.2, None)
    limits.disarm()
    time.sleep(0.4)  # nothing raised: the alarm was cancelled


def test_hard_limit_records_the_job_and_ends_the_process(tmp_path: Path) -> None:
    record = tmp_path / "recorded"
    script = textwrap.dedent(
        f"""
        import time
        from pathlib import Path
        from types import SimpleNamespace
        from asyncml.worker.solo import TimeLimits

        task = SimpleNamespace(request=SimpleNamespace(id="job-7"))
        limits = TimeLimits(lambda t: Path({str(record)!r}).write_text(t.request.id))
        limits.arm(task, None, 0.3)
        time.sleep(10)  # a task stuck where no soft limit reaches it
        print("not reached")
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=30)
    assert done.returncode == HARD_LIMIT_EXIT, done.stderr
    assert record.read_text() == "job-7"
    assert b"not reached" not in done.stdout


def test_a_disarmed_hard_limit_does_not_fire(tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        import time
        from types import SimpleNamespace
        from asyncml.worker.solo import TimeLimits

        limits = TimeLimits(lambda t: None)
        for _ in range(3):
            limits.arm(SimpleNamespace(request=SimpleNamespace(id="j")), None, 0.3)
            time.sleep(0.1)
            limits.disarm()
        time.sleep(0.6)
        print("finished")
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == b"finished"


def test_kombu_hub_still_records_the_thread_running_its_loop() -> None:
    """ImmediateAckConsumer relies on it; without it solo on RabbitMQ stalls again."""
    hub = Hub()
    try:
        loop = hub.create_loop()
        next(loop)
        assert hub._loop_thread == threading.get_ident()
    finally:
        hub.close()


def test_acks_made_on_the_loop_thread_are_sent_at_once() -> None:
    hub = Hub()
    consumer = ImmediateAckConsumer.__new__(ImmediateAckConsumer)
    consumer.hub = hub
    sent: list[str] = []
    try:
        hub._loop_thread = threading.get_ident()
        consumer.call_soon_ack(sent.append, "ack 1")
        assert sent == ["ack 1"]  # not left for the loop's next turn

        hub._loop_thread = -1  # made on another thread: queued for the loop, as Celery does
        consumer.call_soon_ack(sent.append, "ack 2")
        assert sent == ["ack 1"]
        assert len(hub._ready) == 1
    finally:
        hub.close()
