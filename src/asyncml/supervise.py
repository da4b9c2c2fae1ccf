"""Child processes kept running: started together, restarted when one exits, stopped together.

Used by ``asyncml up`` (the API and a worker per queue) and by ``asyncml worker --pool solo``
(one single-process Celery worker per unit of concurrency).
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

RESTARTS_PER_MINUTE = 5  # more than this and the child is broken, not unlucky


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    """Linux: take the children down if the supervisor is SIGKILLed."""
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


@dataclass
class Child:
    name: str
    argv: list[str]
    process: subprocess.Popen[bytes] | None = None
    restarts: list[float] = field(default_factory=list)  # exits within the last minute
    due: float | None = None  # when an exited child is to be started again

    def start(self, env: dict[str, str]) -> None:
        preexec = _die_with_parent if sys.platform.startswith("linux") else None
        self.process = subprocess.Popen(self.argv, env=env, preexec_fn=preexec)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None


class Supervisor:
    """Starts ``children`` with ``env``; ``check()`` restarts the ones that exited.

    A child that exits more than RESTARTS_PER_MINUTE times a minute makes ``check()`` give
    up (``give_up=True``: the launcher, whose API or worker is then broken) or is started
    again after a growing delay, up to 30 s (``give_up=False``: worker processes, which a
    job may kill again and again until its attempts run out, as prefork's pool restarts
    its children however often they die). ``on_exit`` sees each exit once.
    """

    def __init__(
        self,
        children: list[Child],
        env: dict[str, str],
        *,
        on_exit: Callable[[Child, int | None], None] | None = None,
        give_up: bool = True,
    ) -> None:
        self.children = children
        self.env = env
        self.on_exit = on_exit
        self.give_up = give_up

    def start(self) -> None:
        for child in self.children:
            child.start(self.env)

    def check(self) -> bool:
        """Restart children that exited; False once one keeps exiting and we give up."""
        for child in self.children:
            if child.alive():
                continue
            now = time.monotonic()
            if child.due is None:  # an exit not seen before
                code = child.process.returncode if child.process else None
                if self.on_exit is not None:
                    self.on_exit(child, code)
                child.restarts = [t for t in child.restarts if now - t < 60] + [now]
                excess = len(child.restarts) - RESTARTS_PER_MINUTE
                if excess > 0 and self.give_up:
                    log.error("%s keeps exiting (last code %s); giving up", child.name, code)
                    return False
                delay = min(30.0, 2.0**excess) if excess > 0 else 0.0
                log.warning(
                    "%s exited with code %s; restarting it%s",
                    child.name,
                    code,
                    f" in {delay:.0f}s (it keeps exiting)" if delay else "",
                )
                child.due = now + delay
            if now >= child.due:
                child.due = None
                child.start(self.env)
        return True

    def stop(self, grace_s: float) -> None:
        """SIGTERM every child (in order), then wait up to ``grace_s`` before SIGKILL."""
        for child in self.children:
            if child.alive() and child.process is not None:
                child.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        for child in self.children:
            if child.process is None:
                continue
            try:
                child.process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("%s did not stop in time; killing it", child.name)
                child.process.kill()
                child.process.wait()
