"""What the routes do with jobs: submit, read, wait, cancel, list.

Shared by the ``/v1`` routes and the original proof of concept's routes, so both behave
the same way. The record is written before the task is published; a publish that fails
removes the record again and answers 503, so the client never holds an id that will not run.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
import uuid
from typing import Any

import orjson

from asyncml import logs
from asyncml.api.broker import Broker
from asyncml.api.notify import Notifier
from asyncml.errors import ConflictError, JobNotFoundError, QueueFullError, quoted
from asyncml.events import WebhookTarget
from asyncml.metrics.queues import queue_position
from asyncml.scheduling import NO_OPTIONS, JobOptions
from asyncml.schemas import Job, JobStatus
from asyncml.store import AsyncJobStore, BacklogFull, IdempotencyConflict, StoredJob
from asyncml.store.registry import TaskManifest

log = logging.getLogger(__name__)


class BadRequestError(ValueError):
    """A request the schema let through but that cannot be served (422)."""


class JobService:
    def __init__(
        self,
        store: AsyncJobStore,
        broker: Broker,
        notifier: Notifier,
        max_queued: int | None = None,
    ) -> None:
        self.store = store
        self.broker = broker
        self.notifier = notifier
        self.max_queued = max_queued

    async def submit(
        self,
        spec: TaskManifest,
        payload: dict[str, Any],
        owner: str,
        idempotency_key: str | None = None,
        webhook: WebhookTarget | None = None,
        options: JobOptions = NO_OPTIONS,
        time_limits: tuple[float, float] | None = None,
        asked: dict[str, Any] | None = None,
    ) -> tuple[Job, bool]:
        """Record and publish a job. Returns the job and whether it was an idempotent replay.

        ``time_limits`` (soft, hard) are the job's own, from ``options.timeout_s``; ``asked``
        is the scheduling the request asked for, as sent (``start_within_s`` included), which
        an idempotent retry must repeat."""
        # uuid4: 122 random bits, so an id cannot be guessed (and another key's job is a 404).
        job_id = str(uuid.uuid4())
        logs.bind_job(job_id)
        idem = None
        if idempotency_key is not None:
            request: dict[str, Any] = {"task": spec.name, "input": payload}
            if webhook is not None:
                request["webhook"] = webhook.fields()
            if asked:
                request["scheduling"] = asked
            body = orjson.dumps(request, option=orjson.OPT_SORT_KEYS)
            idem = (idempotency_key, hashlib.sha256(body).hexdigest())
        enqueue = self.broker.with_record(spec, job_id, payload, options, time_limits)
        try:
            created = await self.store.create(
                job_id,
                spec.name,
                spec.queue,
                owner,
                payload,
                idem,
                webhook,
                max_queued=self.max_queued,
                enqueue=enqueue,
                version=spec.version,
                options=options,
            )
        except BacklogFull as exc:
            raise QueueFullError(
                f"queue {spec.queue!r} already holds {exc.waiting} waiting jobs "
                f"(ASYNCML_MAX_QUEUED={self.max_queued}); retry later"
            ) from None
        except IdempotencyConflict as exc:
            raise ConflictError(
                f"Idempotency-Key {idempotency_key!r} was already used with a different body "
                f"(job {exc.job_id}); use a new key for a new job"
            ) from exc
        if isinstance(created, str):
            return await self.get(created, owner), True
        if enqueue is None:
            try:
                await self.broker.publish(spec, job_id, payload, options, time_limits)
            except Exception:
                await self.store.discard(job_id, owner, idempotency_key)
                raise
        log.info("job %s: queued %s on %s", job_id, spec.name, spec.queue)
        return created.job, False

    async def _find(self, job_id: str, owner: str) -> StoredJob:
        stored = await self.store.get(job_id)
        # Another owner's job is indistinguishable from a missing one.
        if stored is None or stored.owner != owner:
            raise JobNotFoundError(f"no job with id {quoted(job_id)}")
        return stored

    async def get(self, job_id: str, owner: str, *, position: bool = True) -> Job:
        """The job; ``position`` adds ``queue_position`` to a queued one (one more read)."""
        stored = await self._find(job_id, owner)
        if not position or stored.job.status != JobStatus.QUEUED:
            return stored.job
        rank = await queue_position(self.store.redis, stored.queue, job_id)
        return stored.job.model_copy(update={"queue_position": rank})

    async def wait(self, job_id: str, owner: str, timeout: float) -> Job:
        """Return once the job is finished or ``timeout`` seconds have passed."""
        deadline = time.monotonic() + timeout
        with self.notifier.watch(job_id) as changed:
            while True:
                # Cleared before reading, not after: a change notified while the read is
                # in flight must still wake the wait below.
                changed.clear()
                job = await self.get(job_id, owner, position=False)
                remaining = deadline - time.monotonic()
                if job.status.is_terminal():
                    return job
                if remaining <= 0:
                    return await self.get(job_id, owner)
                # Without the event stream (store reconnecting) look again now and then.
                step = remaining if self.notifier.connected else min(remaining, 2.0)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(changed.wait(), step)

    async def cancel(self, job_id: str, owner: str) -> Job:
        await self._find(job_id, owner)
        before = await self.store.cancel(job_id)
        if before == "missing":
            raise JobNotFoundError(f"no job with id {quoted(job_id)}")
        if before == JobStatus.STARTED.value:
            await self.broker.terminate(job_id)
        elif before != JobStatus.QUEUED.value:
            raise ConflictError(f"job {job_id} already finished ({before}); nothing to cancel")
        log.info("job %s: canceled (was %s)", job_id, before)
        return await self.get(job_id, owner)

    async def list(
        self,
        owner: str,
        *,
        limit: int,
        cursor: str | None,
        status: JobStatus | None,
        task: str | None,
    ) -> tuple[list[Job], str | None]:
        position = None
        if cursor:
            try:
                position = int(cursor)
            except ValueError:
                raise BadRequestError("cursor: not a cursor returned by this API") from None
        page, following = await self.store.list(
            owner, limit=limit, cursor=position, status=status, task=task
        )
        return [s.job for s in page], (str(following) if following is not None else None)


__all__ = ["BadRequestError", "JobService"]
