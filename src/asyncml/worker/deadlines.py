"""The deadline sweeper thread of a worker's main process (a Celery bootstep, like the
republisher): ends queued jobs whose start deadline has passed (``asyncml.store.deadlines``)."""

from __future__ import annotations

import logging
import threading
from typing import Any

import redis
from celery import Celery, bootsteps

from asyncml.settings import Settings
from asyncml.store import deadlines

log = logging.getLogger(__name__)


class DeadlineSweeper:
    def __init__(self, settings: Settings, node: str) -> None:
        self.settings = settings
        self.node = node
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="deadline-sweeper", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        client = redis.Redis.from_url(
            self.settings.effective_store_url, socket_timeout=10, health_check_interval=30
        )
        try:
            while not self._stop.wait(deadlines.SWEEP_EVERY_S):
                try:
                    took = client.set(**deadlines.turn_args(self.node))
                    if took and (ended := deadlines.sweep(client)):
                        log.info("deadline sweeper: %d queued jobs expired", ended)
                except redis.RedisError as exc:  # the store is down: try next time
                    log.warning("deadline sweeper: %s", exc)
        finally:
            client.close()


def install(app: Celery, settings: Settings) -> None:
    """Run a deadline sweeper in every worker's main process."""

    class Deadlines(bootsteps.StartStopStep):  # type: ignore[misc]
        requires = {"celery.worker.components:Pool"}

        def __init__(self, worker: Any, **kwargs: Any) -> None:
            super().__init__(worker, **kwargs)
            self.sweeper: DeadlineSweeper | None = None

        def start(self, worker: Any) -> None:
            self.sweeper = DeadlineSweeper(settings, worker.hostname)
            self.sweeper.start()

        def stop(self, worker: Any) -> None:
            if self.sweeper is not None:
                self.sweeper.stop()

    app.steps["worker"].add(Deadlines)
