"""``asyncml worker --pool solo``: N single-process Celery workers under one supervisor.

Each process runs Celery's solo pool (tasks inline, see ``asyncml.worker.solo``), so a
concurrency of N is N processes, as with prefork, without the pipe between a pool parent and
its children. The supervisor restarts a process that dies and puts the messages it held
back on their Redis queue at once (kombu would otherwise leave them unacknowledged until
the visibility timeout), and kills a process whose job outlived its hard time limit without
the process ending itself (a C call holding the GIL keeps its watchdog from running).
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from types import FrameType

from kombu.connection import Connection

from asyncml.queue.config import broker_transport_options
from asyncml.settings import Settings
from asyncml.supervise import Child, Supervisor
from asyncml.worker.solo import InHand

log = logging.getLogger(__name__)

# How long past a job's hard deadline the supervisor waits for the process's own watchdog
# (which records the job as timed out) before it kills the process from outside.
KILL_AFTER_S = 2.0


class Restorer:
    """Puts a dead process's unacknowledged Redis messages back on their queues."""

    def __init__(self, settings: Settings, in_hand: dict[str, Path]) -> None:
        self.url = settings.effective_broker_url
        self.options = broker_transport_options(settings)
        self.in_hand = in_hand  # child name -> its InHand file

    def __call__(self, child: Child, code: int | None) -> None:
        path = self.in_hand[child.name]
        _, tags = InHand.read(path)
        path.unlink(missing_ok=True)  # its replacement starts with nothing in hand
        if not tags:
            return
        try:
            connection = Connection(self.url, transport_options=self.options)  # type: ignore[no-untyped-call]
            with connection as conn:
                for tag in tags:  # an acknowledged tag is no longer there: a no-op
                    conn.default_channel.qos.restore_by_tag(tag)
        except Exception as exc:  # the visibility timeout still brings them back
            log.warning("%s: could not requeue its messages %s: %s", child.name, tags, exc)
            return
        log.warning("%s exited (code %s); requeued its messages %s", child.name, code, tags)


def node_name(name: str | None, index: int) -> str | None:
    if name is None:
        return None  # each process names itself after its own pid
    base, at, host = name.partition("@")
    return f"{base}.{index}{at}{host}"


def _kill_overdue(children: list[Child], in_hand: dict[str, Path]) -> None:
    now = time.monotonic()
    for child in children:
        deadline, _ = InHand.read(in_hand[child.name])
        if deadline and now > deadline + KILL_AFTER_S and child.alive():
            assert child.process is not None
            log.error("%s: its job outlived the hard time limit; killing it", child.name)
            child.process.kill()


def run(
    settings: Settings,
    queues: list[str],
    concurrency: int,
    name: str | None,
    celery_options: tuple[str, ...] = (),
) -> int:
    """Supervise ``concurrency`` solo workers until SIGTERM or SIGINT; the exit code."""
    shm = "/dev/shm" if os.path.isdir("/dev/shm") else None  # memory, never written to disk
    runtime = Path(tempfile.mkdtemp(prefix="asyncml-worker-", dir=shm))
    python = [sys.executable, "-m", "asyncml", "worker", "--queues", ",".join(queues)]
    children = []
    in_hand = {}
    for i in range(concurrency):
        child = Child(f"worker process {i}", [*python, "--pool", "solo"])
        in_hand[child.name] = runtime / str(i)
        node = node_name(name, i)
        if node:
            child.argv += ["--name", node]
        child.argv.append(f"--in-hand-file={in_hand[child.name]}")
        if celery_options:  # passed on to each process's Celery worker
            child.argv += ["--", *celery_options]
        children.append(child)
    env = os.environ | {"ASYNCML_DATA_DIR": str(settings.data_dir)}
    supervisor = Supervisor(children, env, on_exit=Restorer(settings, in_hand), give_up=False)
    stopping = False

    def stop(signum: int, _: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    supervisor.start()
    try:
        while not stopping:
            _kill_overdue(children, in_hand)
            supervisor.check()  # never gives up (give_up=False)
            time.sleep(0.2)
    finally:
        # Each process finishes the job in hand (a warm shutdown): allow for the longest.
        supervisor.stop(settings.task_time_limit_s + 5)
        shutil.rmtree(runtime, ignore_errors=True)
    return 0
