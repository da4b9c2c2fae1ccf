"""The job store's asyncio face, used by the API process."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from redis.exceptions import NoScriptError

from asyncml.events import WebhookTarget, event_log_key
from asyncml.metrics.recording import on_discard, queued_key
from asyncml.scheduling import JobOptions
from asyncml.schemas import JobStatus
from asyncml.store.connections import DEFAULT_MAX_CONNECTIONS, DEFAULT_POOL_WAIT_S, async_redis
from asyncml.store.pipelined import PipelinedConnection
from asyncml.store.records import (
    _CREATE,
    _FINISH,
    CANCEL_CHANNEL,
    DEADLINES_KEY,
    StoredJob,
    _error_json,
    _now,
    _text,
    decode,
    decode_new,
    events_channel,
    idempotency_key,
    job_key,
    new_record,
    owner_index_key,
    state_keys,
)


def _flat(fields: dict[str, str | bytes]) -> list[str | bytes]:
    return [item for pair in fields.items() for item in pair]


class IdempotencyConflict(Exception):
    def __init__(self, job_id: str) -> None:
        super().__init__(job_id)
        self.job_id = job_id


class BacklogFull(Exception):
    """The task's queue already holds as many waiting jobs as it may."""

    def __init__(self, waiting: int) -> None:
        super().__init__(waiting)
        self.waiting = waiting


@dataclass(frozen=True)
class Enqueue:
    """A broker message to push in the same script that writes the record: the broker is
    a list in the store's own database (see ``asyncml.api.wire``)."""

    queue_key: str
    message: bytes


class AsyncJobStore:
    """asyncio job store for the API process."""

    def __init__(
        self,
        url: str,
        retention_s: int,
        *,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        pool_wait_s: float = DEFAULT_POOL_WAIT_S,
    ) -> None:
        # Running a script twice (the client's one retry on a dead pooled connection) is
        # safe: the state scripts check the state they would change, the create script its
        # own record.
        self.redis = async_redis(url, max_connections=max_connections, wait_s=pool_wait_s)
        self.retention_s = retention_s
        self._create = self.redis.register_script(_CREATE)
        self._finish = self.redis.register_script(_FINISH)
        # Submits and status reads, the hot path, go down one pipelined connection.
        self._pipelined = (
            PipelinedConnection(url, timeout=5, connect_timeout=2)
            if PipelinedConnection.supports(url)
            else None
        )

    async def ping(self) -> bool:
        return bool(await self.redis.ping())

    async def create(
        self,
        job_id: str,
        task: str,
        queue: str,
        owner: str,
        payload: dict[str, Any],
        idempotency: tuple[str, str] | None = None,
        webhook: WebhookTarget | None = None,
        *,
        max_queued: int | None = None,
        enqueue: Enqueue | None = None,
        version: str | None = None,
        options: JobOptions | None = None,
    ) -> StoredJob | str:
        """Write a queued record (and push ``enqueue``'s message) in one script; return it.

        With ``(key, fingerprint)``, return the earlier job's id instead when the key was
        used before; raise IdempotencyConflict when it was used with another body. With
        ``max_queued``, raise BacklogFull when the queue already holds that many waiting
        jobs (those past retention left out)."""
        fields = new_record(
            job_id,
            task,
            queue,
            owner,
            payload,
            self.retention_s,
            webhook,
            version=version,
            options=options,
        )
        now = time.time()
        idem = idempotency_key(owner, idempotency[0]) if idempotency else ""
        fingerprint = idempotency[1] if idempotency else ""
        keys = [
            job_key(job_id),
            owner_index_key(owner),
            idem,
            event_log_key(job_id),
            queued_key(queue),
            enqueue.queue_key if enqueue else "",
            DEADLINES_KEY if options is not None and options.deadline is not None else "",
        ]
        args: list[Any] = [
            job_id,
            int(now * 1_000_000),
            self.retention_s,
            fingerprint,
            "" if max_queued is None else max_queued,
            now - self.retention_s,
            enqueue.message if enqueue else "",
            *_flat(fields),
        ]
        reply: list[bytes] = await self._run_create(keys, args)
        outcome, detail = reply[0], reply[1:]
        if outcome == b"new":
            return decode_new(fields)
        if outcome == b"full":
            raise BacklogFull(int(detail[0]))
        earlier_id, _, earlier_fingerprint = detail[0].decode().partition("|")
        if earlier_fingerprint != fingerprint:
            raise IdempotencyConflict(earlier_id)
        return earlier_id

    async def _run_create(self, keys: list[str], args: list[Any]) -> Any:
        if self._pipelined is not None:
            try:
                command = ("EVALSHA", self._create.sha, len(keys), *keys, *args)
                return await self._pipelined.execute(*command)
            except NoScriptError:
                pass  # a restarted server: redis-py's script call loads it again
        return await self._create(keys=keys, args=args)

    async def discard(self, job_id: str, owner: str, idem: str | None) -> None:
        """Undo a create whose publish failed, so the client may simply retry."""
        keys = [job_key(job_id), event_log_key(job_id)]
        if idem:
            keys.append(idempotency_key(owner, idem))
        task, queue = await self.redis.hmget(job_key(job_id), "task", "queue")
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(*keys)
            pipe.zrem(owner_index_key(owner), job_id)
            if task and queue:
                on_discard(pipe, job_id, _text(task), _text(queue))
            await pipe.execute()

    async def get(self, job_id: str) -> StoredJob | None:
        if self._pipelined is None:
            return decode(await self.redis.hgetall(job_key(job_id)))
        flat = await self._pipelined.execute("HGETALL", job_key(job_id))
        return decode(dict(zip(flat[::2], flat[1::2], strict=True)))

    async def cancel(self, job_id: str) -> str:
        """Cancel if not finished; return the status the job had before."""
        stored = await self.get(job_id)
        if stored is None:
            return "missing"
        before = stored.job.status
        if before.is_terminal():
            return before.value
        error = _error_json("canceled", "the job was canceled by request")
        args: list[Any] = [JobStatus.CANCELED.value, "error", error, _now(), events_channel(job_id)]
        outcome: bytes = await self._finish(keys=state_keys(job_id), args=args)
        if outcome != b"ok":
            return outcome.decode()
        # After the record says canceled, so the worker that stops the job finds it so; also
        # when it looked queued: a worker may have started it since.
        await self.redis.publish(CANCEL_CHANNEL, job_id)
        return before.value

    async def list(
        self,
        owner: str,
        *,
        limit: int,
        cursor: int | None,
        status: JobStatus | None,
        task: str | None,
    ) -> tuple[list[StoredJob], int | None]:
        """Newest first. Returns a page and the cursor of the next one (or None)."""
        index = owner_index_key(owner)
        await self.redis.zremrangebyscore(
            index, "-inf", int((time.time() - self.retention_s) * 1_000_000)
        )
        upper: str = f"({cursor}" if cursor is not None else "+inf"
        found: list[StoredJob] = []
        scanned = 0
        batch = max(limit, 50)
        while len(found) < limit and scanned < 2000:
            ids_scores: list[Any] = await self.redis.zrevrangebyscore(
                index, upper, "-inf", start=0, num=batch, withscores=True
            )
            if not ids_scores:
                return found, None
            async with self.redis.pipeline(transaction=False) as pipe:
                for member, _ in ids_scores:
                    pipe.hgetall(job_key(member.decode()))
                raws = await pipe.execute()
            for (_, score), raw in zip(ids_scores, raws, strict=True):
                scanned += 1
                upper = f"({int(score)}"
                stored = decode(raw)
                if stored is None:
                    continue
                if status is not None and stored.job.status != status:
                    continue
                if task is not None and stored.job.task != task:
                    continue
                found.append(stored)
                if len(found) == limit:
                    return found, int(score)
        return found, int(upper[1:]) if upper.startswith("(") else None

    async def close(self) -> None:
        if self._pipelined is not None:
            await self._pipelined.close()
        await self.redis.aclose()
