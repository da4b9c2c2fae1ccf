"""Worker heartbeats: how the API knows which workers serve which queue.

Once a worker is ready to consume, a thread of its main process records
``<node name>|<processes>`` on each queue it serves every few seconds (see
``asyncml.metrics.queues``), and in the task registry writes the manifest of each task it
serves (rewritten only when it changed, so a registry that was flushed heals) and beats for
it (``asyncml.store.registry``); it leaves as soon as a shutdown begins, so a draining
worker no longer counts. A worker killed outright drops out when its last beat grows stale.

``python -m asyncml.worker.heartbeat`` exits 0 when a worker on this host has a fresh
heartbeat, 1 otherwise: a liveness probe for containers.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import sys
import threading
from collections.abc import Sequence
from typing import Any

import redis
from celery import Celery, signals

from asyncml.authoring import TaskDefinition
from asyncml.metrics.queues import HEARTBEAT_EVERY_S, beat, leave, live_nodes
from asyncml.settings import Settings
from asyncml.store.keys import workers_key
from asyncml.store.registry import Registry

log = logging.getLogger(__name__)


class Heartbeat:
    def __init__(
        self,
        store_url: str,
        node: str,
        queues: list[str],
        processes: int,
        tasks: Sequence[TaskDefinition] = (),
    ) -> None:
        self.node, self.queues, self.processes = node, queues, processes
        self._client = redis.Redis.from_url(store_url, socket_timeout=5, socket_connect_timeout=3)
        self._registry = Registry(self._client)
        self._manifests = [t.manifest() for t in tasks]
        self._task_keys = [t.key for t in tasks]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="heartbeat", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def join(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        failing = False
        while not self._stop.is_set():
            try:
                self._registry.register(self._manifests)
                self._registry.beat(self.node, self._task_keys)
                beat(self._client, self.node, self.queues, self.processes)
                failing = False
            except redis.RedisError as exc:
                if not failing:
                    log.warning("heartbeat: the job store did not answer (%s)", exc)
                failing = True
            self._stop.wait(HEARTBEAT_EVERY_S)
        with contextlib.suppress(redis.RedisError):  # else the beat goes stale on its own
            leave(self._client, self.node, self.queues, self.processes)
            self._registry.leave(self.node, self._task_keys)
        self._client.close()


def install(app: Celery, settings: Settings, tasks: Sequence[TaskDefinition] = ()) -> None:
    """Beat while ``app``'s worker runs in this process, for the ``tasks`` on its queues."""
    current: list[Heartbeat] = []

    def ready(sender: Any, **_: Any) -> None:
        if sender.app is not app:
            return
        queues = sorted(app.amqp.queues.consume_from)
        processes = int(getattr(sender.controller, "concurrency", 0) or 0)
        served = [t for t in tasks if t.queue in queues]
        heartbeat = Heartbeat(
            settings.effective_store_url, sender.hostname, queues, processes, served
        )
        current.append(heartbeat)
        heartbeat.start()

    def stopping(**_: Any) -> None:
        for heartbeat in current:
            heartbeat.stop()

    def stopped(**_: Any) -> None:
        while current:
            current.pop().join()

    signals.worker_ready.connect(ready, weak=False)
    signals.worker_shutting_down.connect(stopping, weak=False)
    signals.worker_shutdown.connect(stopped, weak=False)


def main() -> int:
    settings = Settings()
    host = socket.gethostname()
    client = redis.Redis.from_url(settings.effective_store_url, socket_timeout=3)
    try:
        prefix = workers_key("")
        queues = [key.decode()[len(prefix) :] for key in client.scan_iter(f"{prefix}*")]
        nodes = {node for queue in queues for node in live_nodes(client, queue)}
    except redis.RedisError as exc:
        print(f"heartbeat: the job store did not answer: {exc}", file=sys.stderr)
        return 1
    mine = sorted(node for node in nodes if node.endswith(f"@{host}"))
    print(f"live workers on {host}: {', '.join(mine) or 'none'}")
    return 0 if mine else 1


if __name__ == "__main__":
    sys.exit(main())
