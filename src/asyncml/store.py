"""Job records in Redis (or the embedded Valkey): the source of truth for a job.

One hash per job, written *before* its task is published, so an unknown id is a plain 404.
Every state change is one Lua script that checks the current state first: a late result
cannot overwrite a cancel, a redelivered task cannot run a finished job again, and every
change is published on the job's channel so waiters wake without polling.

``JobStore`` is the synchronous face used by workers; ``AsyncJobStore`` the asyncio face
used by the API. Both share the key layout, the scripts and the record codec below.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson
import redis
import redis.asyncio as aredis

from asyncml.events import EMIT_LUA, WEBHOOK_DUE_KEY, WebhookTarget, event_log_key
from asyncml.metrics.recording import LUA_HOOKS, on_discard
from asyncml.schemas import ErrorInfo, Job, JobStatus

PREFIX = "asyncml"
EVENTS_PATTERN = f"{PREFIX}:ev:*"


def job_key(job_id: str) -> str:
    return f"{PREFIX}:job:{job_id}"


def owner_index_key(owner: str) -> str:
    return f"{PREFIX}:jobs:{owner}"


def idempotency_key(owner: str, key: str) -> str:
    return f"{PREFIX}:idem:{owner}:{key}"


def events_channel(job_id: str) -> str:
    return f"{PREFIX}:ev:{job_id}"


def cache_key(name: str) -> str:
    return f"{PREFIX}:cache:{name}"


# Lua functions the state-changing scripts call: event log and webhooks, then metrics.
_STATE_LUA = EMIT_LUA + LUA_HOOKS

# KEYS: job, owner index, idempotency key ("" when none), event log
# ARGV: job id, score, retention seconds, fingerprint, then field/value pairs
_CREATE = (
    _STATE_LUA
    + """
if KEYS[3] ~= '' then
  local seen = redis.call('GET', KEYS[3])
  if seen then return seen end
  redis.call('SET', KEYS[3], ARGV[1] .. '|' .. ARGV[4], 'EX', ARGV[3])
end
redis.call('HSET', KEYS[1], unpack(ARGV, 5))
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
redis.call('EXPIRE', KEYS[2], ARGV[3])
emit(KEYS[1], KEYS[4], '', 'queued', redis.call('HGET', KEYS[1], 'created_at'))
m_created(KEYS[1])
return ''
"""
)

# KEYS: job, event log, webhook outbox.
# ARGV: now, max attempts, channel, error json when attempts run out, lease seconds
# A job already started whose lease is still fresh is held by a live worker: the new
# delivery is a duplicate (broker redelivery) and must not run alongside it.
_START = (
    _STATE_LUA
    + """
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return {'missing', '0'} end
if status ~= 'queued' and status ~= 'started' then return {'skip', status} end
local now = tonumber(ARGV[1])
if status == 'started' then
  local lease = tonumber(redis.call('HGET', KEYS[1], 'lease_until') or '0')
  if lease > now then return {'busy', tostring(lease - now)} end
end
local attempts = redis.call('HINCRBY', KEYS[1], 'attempts', 1)
if attempts > tonumber(ARGV[2]) then
  redis.call('HSET', KEYS[1], 'status', 'failed', 'finished_at', ARGV[1], 'error', ARGV[4])
  emit(KEYS[1], KEYS[2], KEYS[3], 'failed', ARGV[1])
  m_finished(KEYS[1], status, 'failed', nil)
  redis.call('PUBLISH', ARGV[3], 'failed')
  return {'exhausted', tostring(attempts)}
end
redis.call('HSET', KEYS[1], 'status', 'started', 'started_at', ARGV[1],
  'lease_until', tostring(now + tonumber(ARGV[5])))
emit(KEYS[1], KEYS[2], KEYS[3], 'started', ARGV[1])
m_started(KEYS[1], status, ARGV[1])
redis.call('PUBLISH', ARGV[3], 'started')
return {'ok', tostring(attempts)}
"""
)

# KEYS: job. ARGV: lease_until
_RENEW = """
if redis.call('HGET', KEYS[1], 'status') == 'started' then
  redis.call('HSET', KEYS[1], 'lease_until', ARGV[1])
  return 1
end
return 0
"""

# KEYS: job, event log, webhook outbox. ARGV: new status, field, payload, now, channel
_FINISH = (
    _STATE_LUA
    + """
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return 'missing' end
if status ~= 'queued' and status ~= 'started' then return status end
redis.call('HSET', KEYS[1], 'status', ARGV[1], ARGV[2], ARGV[3], 'finished_at', ARGV[4])
emit(KEYS[1], KEYS[2], KEYS[3], ARGV[1], ARGV[4])
m_finished(KEYS[1], status, ARGV[1], ARGV[4])
redis.call('PUBLISH', ARGV[5], ARGV[1])
return 'ok'
"""
)


def _now() -> float:
    return time.time()


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def state_keys(job_id: str) -> list[str]:
    """The keys of a state-changing script: the job, its event log, the webhook outbox."""
    return [job_key(job_id), event_log_key(job_id), WEBHOOK_DUE_KEY]


def _ts(value: bytes | None) -> dt.datetime | None:
    if not value:
        return None
    return dt.datetime.fromtimestamp(float(value), tz=dt.UTC)


@dataclass(frozen=True)
class StoredJob:
    """A decoded record plus the fields the API needs but does not show."""

    job: Job
    owner: str
    queue: str


def decode(raw: Mapping[Any, Any]) -> StoredJob | None:
    if not raw or b"status" not in raw:
        return None
    created = float(raw[b"created_at"])
    retention = float(raw.get(b"retention", b"0"))
    error = raw.get(b"error")
    result = raw.get(b"result")
    job = Job(
        id=raw[b"id"].decode(),
        task=raw[b"task"].decode(),
        status=JobStatus(raw[b"status"].decode()),
        input=orjson.loads(raw[b"input"]),
        result=orjson.loads(result) if result else None,
        error=ErrorInfo(**orjson.loads(error)) if error else None,
        attempts=int(raw.get(b"attempts", b"0")),
        created_at=dt.datetime.fromtimestamp(created, tz=dt.UTC),
        started_at=_ts(raw.get(b"started_at")),
        finished_at=_ts(raw.get(b"finished_at")),
        expires_at=dt.datetime.fromtimestamp(created + retention, tz=dt.UTC),
    )
    if webhook := raw.get(b"webhook"):
        events = raw.get(b"webhook_events", b"completed").decode().split(",")
        status = raw.get(b"webhook_status", b"pending").decode()
        job = job.model_copy(
            update={"webhook": webhook.decode(), "webhook_events": events, "webhook_status": status}
        )
    return StoredJob(job=job, owner=raw[b"owner"].decode(), queue=raw[b"queue"].decode())


def new_record(
    job_id: str,
    task: str,
    queue: str,
    owner: str,
    payload: dict[str, Any],
    retention_s: int,
    webhook: WebhookTarget | None = None,
) -> dict[str, str | bytes]:
    extra: dict[str, str | bytes] = dict(webhook.fields()) if webhook else {}
    return extra | {
        "id": job_id,
        "task": task,
        "queue": queue,
        "owner": owner,
        "status": JobStatus.QUEUED.value,
        "input": orjson.dumps(payload),
        "attempts": "0",
        "created_at": repr(_now()),
        "retention": str(retention_s),
    }


def decode_new(fields: dict[str, str | bytes]) -> StoredJob:
    """The record as just written, without reading it back."""
    raw = {k.encode(): v if isinstance(v, bytes) else v.encode() for k, v in fields.items()}
    stored = decode(raw)
    assert stored is not None
    return stored


def _error_json(code: str, message: str) -> bytes:
    return orjson.dumps({"code": code, "message": message})


@dataclass(frozen=True)
class Claim:
    """What a worker may do with a delivered task."""

    # "ok" (run it), "skip" (finished or canceled), "busy" (a live worker holds it; detail is
    # the seconds its lease has left), "missing" (expired), "exhausted" (attempts used up)
    outcome: str
    detail: str

    @property
    def run(self) -> bool:
        return self.outcome == "ok"


class JobStore:
    """Synchronous job store for worker processes."""

    def __init__(self, url: str, retention_s: int) -> None:
        self.redis = redis.Redis.from_url(url, socket_timeout=10, health_check_interval=30)
        self.retention_s = retention_s
        self._start = self.redis.register_script(_START)
        self._finish = self.redis.register_script(_FINISH)
        self._renew = self.redis.register_script(_RENEW)

    def get(self, job_id: str) -> StoredJob | None:
        return decode(self.redis.hgetall(job_key(job_id)))

    def start(self, job_id: str, max_attempts: int, lease_s: float) -> Claim:
        error = _error_json(
            "worker_lost",
            f"the job stopped its worker {max_attempts} times and was given up; "
            "check that the input is not pathological",
        )
        outcome, detail = self._start(
            keys=state_keys(job_id),
            args=[_now(), max_attempts, events_channel(job_id), error, lease_s],
        )
        return Claim(outcome.decode(), detail.decode())

    def renew(self, job_id: str, lease_s: float) -> bool:
        return bool(self._renew(keys=[job_key(job_id)], args=[_now() + lease_s]))

    def succeed(self, job_id: str, result: Any) -> str:
        return self._end(job_id, JobStatus.SUCCEEDED, "result", orjson.dumps(result))

    def fail(self, job_id: str, code: str, message: str) -> str:
        return self._end(job_id, JobStatus.FAILED, "error", _error_json(code, message))

    def _end(self, job_id: str, status: JobStatus, field: str, payload: bytes) -> str:
        args: list[Any] = [status.value, field, payload, _now(), events_channel(job_id)]
        outcome: bytes = self._finish(keys=state_keys(job_id), args=args)
        return outcome.decode()

    def cache_get(self, name: str) -> Any | None:
        raw = self.redis.get(cache_key(name))
        return orjson.loads(raw) if raw else None

    def cache_set(self, name: str, value: Any, ttl_s: int | None = None) -> None:
        self.redis.set(cache_key(name), orjson.dumps(value), ex=ttl_s)

    def close(self) -> None:
        self.redis.close()


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
