"""The job store's asyncio face, used by the API process."""

from __future__ import annotations

import time
from typing import Any

import redis.asyncio as aredis

from asyncml.events import WebhookTarget, event_log_key
from asyncml.metrics.recording import on_discard
from asyncml.schemas import JobStatus
from asyncml.store.records import (
    _CREATE,
    _FINISH,
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


class AsyncJobStore:
    """asyncio job store for the API process."""

    def __init__(self, url: str, retention_s: int) -> None:
        self.redis = aredis.Redis.from_url(
            url, socket_timeout=5, socket_connect_timeout=2, health_check_interval=30
        )
        self.retention_s = retention_s
        self._create = self.redis.register_script(_CREATE)
        self._finish = self.redis.register_script(_FINISH)

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
    ) -> StoredJob | str:
        """Write a queued record and return it. With ``(key, fingerprint)``, return the
        earlier job's id instead when the key was used before; raise IdempotencyConflict
        when it was used with another body."""
        fields = new_record(job_id, task, queue, owner, payload, self.retention_s, webhook)
        score = int(time.time() * 1_000_000)
        idem = idempotency_key(owner, idempotency[0]) if idempotency else ""
        fingerprint = idempotency[1] if idempotency else ""
        seen: bytes = await self._create(
            keys=[job_key(job_id), owner_index_key(owner), idem, event_log_key(job_id)],
            args=[job_id, score, self.retention_s, fingerprint, *_flat(fields)],
        )
        if not seen:
            return decode_new(fields)
        earlier_id, _, earlier_fingerprint = seen.decode().partition("|")
        if earlier_fingerprint != fingerprint:
            raise IdempotencyConflict(earlier_id)
        return earlier_id

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
        return decode(await self.redis.hgetall(job_key(job_id)))

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
        return before.value if outcome == b"ok" else outcome.decode()

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
        await self.redis.aclose()
