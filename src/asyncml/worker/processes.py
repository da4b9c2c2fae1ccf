"""``asyncml worker --pool solo``: N single-process Celery workers under one supervisor.

Each process runs Celery's solo pool (tasks inline, see ``asyncml.worker.solo``), so a
concurrency of N is N processes, as with prefork, without the pipe between a pool parent and
its children. The supervisor restarts a process that dies and, on a Redis broker, puts the
message that process held back on its queue at once (kombu would otherwise leave it unacked
until the visibility timeout); RabbitMQ requeues it itself when the connection drops.
"""

from __future__ import annotations

import contextlib
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

from asyncml.settings import Settings
from asyncml.supervise import Child, Supervisor
from asyncml.worker.app import celery_config

log = logging.getLogger(__name__)


class Restorer:
    """Puts a dead process's unacknowledged Redis message back on its queue."""

    def __init__(self, settings: Settings) -> None:
        self.url = settings.effective_broker_url
        self.options = celery_config(settings)["broker_transport_options"]

    def __call__(self, child: Child, code: int | None) -> None:
        tag_file = Path(child.argv[-1].partition("=")[2])
        with contextlib.suppress(FileNotFoundError):
            tag = tag_file.read_text().strip()
            if not tag:
                return
            try:
                connection = Connection(self.url, transport_options=self.options)  # type: ignore[no-untyped-call]
                with connection as conn:
                    conn.default_channel.qos.restore_by_tag(tag)
            except Exception as exc:  # the visibility timeout still brings it back
                log.warning("%s: could not requeue its message %s: %s", child.name, tag, exc)
                return
            log.warning("%s died (code %s); requeued its message %s", child.name, code, tag)


def node_name(name: str | None, index: int) -> str | None:
    if name is None:
        return None  # each process names itself after its own pid
    base, at, host = name.partition("@")
    return f"{base}.{index}{at}{host}"


def run(settings: Settings, queues: list[str], concurrency: int, name: str | None) -> int:
    """Supervise ``concurrency`` solo workers until SIGTERM or SIGINT; the exit code."""
    runtime = Path(tempfile.mkdtemp(prefix="asyncml-worker-"))
    python = [sys.executable, "-m", "asyncml", "worker", "--queues", ",".join(queues)]
    children = []
    for i in range(concurrency):
        argv = [*python, "--pool", "solo"]
        node = node_name(name, i)
        if node:
            argv += ["--name", node]
        # Last, so Restorer finds it: the file the process writes its message's tag to.
        argv.append(f"--inflight-file={runtime / str(i)}")
        children.append(Child(f"worker process {i}", argv))
    env = os.environ | {"ASYNCML_DATA_DIR": str(settings.data_dir)}
    on_exit = Restorer(settings) if settings.broker_is_redis else None
    supervisor = Supervisor(children, env, on_exit=on_exit)
    stopping = False

    def stop(signum: int, _: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    supervisor.start()
    code = 0
    try:
        while not stopping:
            if not supervisor.check():
                code = 1
                break
            time.sleep(0.2)
    finally:
        # Each process finishes the job in hand (a warm shutdown): allow for the longest.
        supervisor.stop(settings.task_time_limit_s + 5)
        shutil.rmtree(runtime, ignore_errors=True)
    return code
