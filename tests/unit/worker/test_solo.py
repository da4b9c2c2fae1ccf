"""A solo worker process: the soft limit raises in the task, the hard limit ends the process
after recording the job, and the messages in hand are written down for the supervisor."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from billiard.exceptions import Terminated
from celery import Celery
from celery.exceptions import SoftTimeLimitExceeded

from asyncml.worker.solo import HARD_LIMIT_EXIT, InHand, TimeLimits, _limits_of


@pytest.fixture(autouse=True)
def _alarm_handler() -> Iterator[None]:
    """TimeLimits installs a SIGALRM handler: put the test process's own back afterwards."""
    before = signal.getsignal(signal.SIGALRM)
    yield
    signal.setitimer(signal.ITIMER_REAL, 0)
    signal.signal(signal.SIGALRM, before)


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
    limits = TimeLimits(on_hard_limit=lambda task, job_id: None)
    limits.arm(_task(), 0.2, None)
    with pytest.raises(SoftTimeLimitExceeded):
        time.sleep(5)
    limits.disarm()

    limits.arm(_task(), 0.2, None)
    limits.disarm()
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)  # the alarm was cancelled
    time.sleep(0.4)  # nothing raised


def test_hard_limit_records_the_job_and_ends_the_process(tmp_path: Path) -> None:
    """With a real Celery task: its request is thread-local, so the job id must be taken
    when the clocks start, not read by the watchdog thread."""
    record = tmp_path / "recorded"
    script = textwrap.dedent(
        f"""
        import time
        from pathlib import Path
        from celery import Celery, Task
        from asyncml.worker.solo import TimeLimits, _record_hard_timeout

        class Recording(Task):
            def record_hard_timeout(self, job_id):
                Path({str(record)!r}).write_text(job_id)

        app = Celery(set_as_current=False)

        @app.task(base=Recording, bind=True)
        def stuck(self):
            pass

        stuck.push_request(id="job-7")
        limits = TimeLimits(_record_hard_timeout)
        limits.arm(stuck, None, 0.3)
        time.sleep(10)  # a task stuck where no soft limit reaches it
        print("not reached")
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=30)
    assert done.returncode == HARD_LIMIT_EXIT, done.stderr
    assert record.read_text() == "job-7"
    assert b"not reached" not in done.stdout


def test_the_process_ends_even_if_recording_the_timeout_fails() -> None:
    script = textwrap.dedent(
        """
        import time
        from types import SimpleNamespace
        from asyncml.worker.solo import TimeLimits

        def broken(task, job_id):
            raise RuntimeError("the store is gone")

        limits = TimeLimits(broken)
        limits.arm(SimpleNamespace(request=SimpleNamespace(id="j")), None, 0.2)
        time.sleep(10)
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=30)
    assert done.returncode == HARD_LIMIT_EXIT, done.stderr


def test_a_disarmed_hard_limit_does_not_fire(tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        import time
        from types import SimpleNamespace
        from asyncml.worker.solo import TimeLimits

        limits = TimeLimits(lambda task, job_id: None)
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


def test_a_cancel_interrupts_a_blocking_call_of_its_own_job_only() -> None:
    limits = TimeLimits(on_hard_limit=lambda task, job_id: None)
    limits.arm(_task(), None, None)  # no time limits: only a cancel can stop it
    limits.cancel("job-2")  # another job's cancel: nothing happens here
    held, _ = socket.socketpair()
    held.settimeout(5)  # a cancel that does not interrupt the read fails the test
    canceler = threading.Thread(target=limits.cancel, args=("job-1",))
    with pytest.raises(Terminated), held:
        canceler.start()
        held.recv(1)  # a server that never answers
    canceler.join()
    limits.disarm()
    limits.cancel("job-1")  # it finished: a late cancel is ignored


def test_a_late_soft_limit_alarm_is_ignored_once_disarmed() -> None:
    limits = TimeLimits(on_hard_limit=lambda task, job_id: None)
    limits.arm(_task(), 0.05, None)
    assert signal.getitimer(signal.ITIMER_REAL)[0] > 0  # the alarm is set
    limits._armed = False  # the job finished: what disarm() does first
    slept = time.monotonic()
    time.sleep(0.2)  # the alarm fires here: an exception would fail the test
    assert time.monotonic() - slept >= 0.2  # the sleep was not cut short by a raise
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)  # it did fire meanwhile
    limits.disarm()
    # The same alarm while armed does raise: the ignoring above is the disarm's doing.
    limits.arm(_task(), 0.05, None)
    with pytest.raises(SoftTimeLimitExceeded):
        time.sleep(5)
    limits.disarm()


def test_messages_in_hand_and_the_deadline_are_written_for_the_supervisor(
    tmp_path: Path,
) -> None:
    path = tmp_path / "0"
    in_hand = InHand(path)
    assert InHand.read(path) == (0.0, [])
    in_hand.received("job-1", "tag-1")
    in_hand.received("job-2", "tag-2")  # e.g. a retry held until its countdown ends
    in_hand.running(1234.5)
    assert InHand.read(path) == (1234.5, ["tag-1", "tag-2"])
    in_hand.finished("job-1")
    assert InHand.read(path) == (0.0, ["tag-2"])
    assert InHand.read(tmp_path / "missing") == (0.0, [])


def test_a_record_caught_half_written_reads_as_nothing(tmp_path: Path) -> None:
    """A process killed in the middle of a write leaves an odd sequence number: the
    supervisor must not act on half a deadline or half a tag."""
    path = tmp_path / "0"
    in_hand = InHand(path)
    in_hand.received("job-1", "tag-1")
    in_hand.running(99.0)
    sequence, _, length = InHand._HEAD.unpack_from(path.read_bytes())
    InHand._HEAD.pack_into(in_hand._map, 0, sequence + 1, 1.0, length)  # a write under way
    assert InHand.read(path) == (0.0, [])
    InHand._HEAD.pack_into(in_hand._map, 0, sequence + 2, 1.0, length)  # and finished
    assert InHand.read(path) == (1.0, ["tag-1"])
