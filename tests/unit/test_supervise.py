"""Supervised children: restarted when they exit, given up on (or slowed down) when they
keep exiting, each exit reported once."""

from __future__ import annotations

import os
import sys
import time

from asyncml.supervise import RESTARTS_PER_MINUTE, Child, Supervisor


def _exiting(name: str) -> Child:
    return Child(name, [sys.executable, "-c", "import sys; sys.exit(3)"])


def _until_exited(child: Child) -> None:
    assert child.process is not None
    child.process.wait(30)


def test_an_exited_child_is_restarted_and_its_exit_reported_once() -> None:
    seen: list[tuple[str, int | None]] = []
    child = _exiting("one")
    supervisor = Supervisor(
        [child], dict(os.environ), on_exit=lambda c, code: seen.append((c.name, code))
    )
    supervisor.start()
    first = child.process
    _until_exited(child)
    assert supervisor.check()
    assert child.process is not first  # started again
    assert seen == [("one", 3)]


def test_the_launcher_gives_up_on_a_child_that_keeps_exiting() -> None:
    child = _exiting("api")
    supervisor = Supervisor([child], dict(os.environ))
    supervisor.start()
    results = []
    for _ in range(RESTARTS_PER_MINUTE + 1):
        _until_exited(child)
        results.append(supervisor.check())
    assert results == [True] * RESTARTS_PER_MINUTE + [False]


def test_worker_processes_are_slowed_down_never_given_up() -> None:
    seen: list[int | None] = []
    child = _exiting("worker process 0")
    supervisor = Supervisor(
        [child], dict(os.environ), on_exit=lambda c, code: seen.append(code), give_up=False
    )
    supervisor.start()
    for _ in range(RESTARTS_PER_MINUTE + 1):
        _until_exited(child)
        assert supervisor.check()
    # The sixth exit in a minute: not restarted at once, but due again within seconds.
    assert child.due is not None and child.due > time.monotonic()
    before = child.process
    assert supervisor.check() and child.process is before  # still waiting, exit not re-reported
    assert len(seen) == RESTARTS_PER_MINUTE + 1
    child.due = time.monotonic()  # the delay has passed
    assert supervisor.check()
    assert child.process is not before
    supervisor.stop(5)
