"""Publishing to the broker and asking it questions, off the event loop.

kombu is synchronous; each call runs in a worker thread so a slow broker never blocks
other requests. The API publishes by task name only and never imports worker code.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from anyio import to_thread
from celery import Celery
from kombu.exceptions import KombuError

from asyncml.catalog import TaskSpec
from asyncml.errors import ServiceUnavailableError

log = logging.getLogger(__name__)
_BROKER_ERRORS = (KombuError, OSError, ConnectionError, TimeoutError)


class Broker:
    def __init__(self, celery: Celery) -> None:
        self.celery = celery
        self._depths: dict[str, tuple[float, int | None]] = {}

    async def publish(self, spec: TaskSpec, job_id: str, payload: dict[str, Any]) -> None:
        def send() -> None:
            self.celery.send_task(
                spec.celery_name, args=(job_id, payload), task_id=job_id, queue=spec.queue
            )

        try:
            await to_thread.run_sync(send)
        except _BROKER_ERRORS as exc:
            log.error("job %s: could not publish to the broker: %s", job_id, exc)
            raise ServiceUnavailableError(
                "the message broker is unreachable; retry shortly"
            ) from exc

    async def terminate(self, job_id: str) -> None:
        """Stop a running job wherever it runs (the store already says canceled)."""

        def revoke() -> None:
            self.celery.control.revoke(job_id, terminate=True, signal="SIGTERM")

        try:
            await to_thread.run_sync(revoke)
        except _BROKER_ERRORS as exc:
            log.warning("job %s: could not broadcast the revoke: %s", job_id, exc)

    async def ping(self) -> bool:
        def check() -> bool:
            with self.celery.connection_for_read() as conn:
                conn.ensure_connection(max_retries=1, timeout=2)
                return True

        try:
            return await to_thread.run_sync(check)
        except _BROKER_ERRORS:
            return False

    async def depth(self, queue: str) -> int | None:
        """Messages waiting in a queue, cached for a second; None if the broker won't say."""
        cached = self._depths.get(queue)
        if cached is not None and time.monotonic() - cached[0] < 1.0:
            return cached[1]

        def count() -> int:
            with self.celery.connection_for_read() as conn:
                # Redis deletes an empty queue's list, so a passive declare would say "no such
                # queue"; declaring there creates nothing and counts the lists.
                passive = conn.transport.driver_type != "redis"
                ok = conn.default_channel.queue_declare(queue=queue, passive=passive)
                return int(ok.message_count)

        try:
            value: int | None = await to_thread.run_sync(count)
        except Exception:  # a queue nobody declared yet, or a broker that is down
            value = None
        self._depths[queue] = (time.monotonic(), value)
        return value
