"""Job records: the state-change Lua scripts and the record codec (keys: ``store.keys``).

Each state change is one script here, built from named pieces that all live in ``store/``:
the record itself (the scripts below), the event log and the webhook outbox
(``effects.EMIT_LUA``), the metric counters and per-queue waiting/running sets
(``counters.COUNTERS_LUA``).

One hash per job, written *before* its task is published, so an unknown id is a plain 404.
Every state change is one Lua script that checks the current state first: a late result
cannot overwrite a cancel, a redelivered task cannot run a finished job again, and every
change is published on the job's channel so waiters wake without polling.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from asyncml.scheduling import JobOptions
from asyncml.schemas import ErrorInfo, Job, JobStatus, Progress
from asyncml.store.counters import COUNTERS_LUA
from asyncml.store.effects import EMIT_LUA, WebhookTarget
from asyncml.store.keys import (
    WEBHOOK_DUE_KEY,
    event_log_key,
    job_key,
)

EXPIRED_MESSAGE = (
    "the job was not started before its deadline (deadline or start_within_s) and never ran"
)

# Lua functions the state-changing scripts call: event log and webhooks, then metrics, and
# ending a queued job whose start deadline has passed.
STATE_LUA = (
    EMIT_LUA
    + COUNTERS_LUA
    + """
local function expire_queued(job, evlog, due, now, channel, error)
  redis.call('HSET', job, 'status', 'expired', 'finished_at', now, 'error', error)
  emit(job, evlog, due, 'expired', now)
  m_finished(job, 'queued', 'expired', now)
  redis.call('PUBLISH', channel, 'expired')
end
"""
)

# KEYS: job, owner index, idempotency key ("" when none), event log, the task queue's
#   waiting set, the broker's queue list ("" when the task is published elsewhere), the
#   deadlines set ("" for a job without a start deadline)
# ARGV: job id, score, retention seconds, fingerprint, most jobs waiting ("" for no cap),
#   oldest live waiting score, broker message, then field/value pairs
# Returns {'new'}, {'seen', '<id>|<fingerprint>'} for an idempotent replay, or
# {'full', '<waiting>'} when the queue already holds the most jobs it may. Ids are fresh
# uuid4s, so a record that exists is this job's own: the script ran already (a retry after
# a lost reply) and must not write the record or push the message again.
CREATE_SCRIPT = (
    STATE_LUA
    + """
if redis.call('EXISTS', KEYS[1]) == 1 then return {'new'} end
if KEYS[3] ~= '' then
  local seen = redis.call('GET', KEYS[3])
  if seen then return {'seen', seen} end
end
if ARGV[5] ~= '' then
  local waiting = redis.call('ZCOUNT', KEYS[5], ARGV[6], '+inf')
  if waiting >= tonumber(ARGV[5]) then return {'full', tostring(waiting)} end
end
if KEYS[3] ~= '' then
  redis.call('SET', KEYS[3], ARGV[1] .. '|' .. ARGV[4], 'EX', ARGV[3])
end
redis.call('HSET', KEYS[1], unpack(ARGV, 8))
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
redis.call('EXPIRE', KEYS[2], ARGV[3])
emit(KEYS[1], KEYS[4], '', 'queued', redis.call('HGET', KEYS[1], 'created_at'))
m_created(KEYS[1])
if KEYS[7] ~= '' then
  redis.call('ZADD', KEYS[7], redis.call('HGET', KEYS[1], 'deadline'), ARGV[1])
end
if KEYS[6] ~= '' then redis.call('LPUSH', KEYS[6], ARGV[7]) end
return {'new'}
"""
)

# Leases are read and written on the store's clock (TIME), never a worker's: workers on
# hosts whose clocks disagree by a minute must still agree on whether a lease is fresh.
_STORE_CLOCK_LUA = """
local function store_clock()
  local t = redis.call('TIME')
  return tonumber(t[1]) + tonumber(t[2]) / 1000000
end
"""

# KEYS: job, event log, webhook outbox.
# ARGV: now, max attempts, channel, error json when attempts run out, lease seconds, error
#   json of a job past its start deadline
# A job already started whose lease is still fresh is held by a live worker: the new
# delivery is a duplicate (broker redelivery) and must not run alongside it. A queued job
# past its start deadline ends expired instead of running.
START_SCRIPT = (
    STATE_LUA
    + _STORE_CLOCK_LUA
    + """
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return {'missing', '0'} end
if status ~= 'queued' and status ~= 'started' then return {'skip', status} end
local now = store_clock()
if status == 'queued' then
  local deadline = tonumber(redis.call('HGET', KEYS[1], 'deadline') or '')
  if deadline and deadline <= now then
    expire_queued(KEYS[1], KEYS[2], KEYS[3], ARGV[1], ARGV[3], ARGV[6])
    return {'expired', tostring(deadline)}
  end
end
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
redis.call('HDEL', KEYS[1], 'progress')
redis.call('HSET', KEYS[1], 'status', 'started', 'started_at', ARGV[1],
  'lease_until', tostring(now + tonumber(ARGV[5])))
emit(KEYS[1], KEYS[2], KEYS[3], 'started', ARGV[1])
m_started(KEYS[1], status, ARGV[1])
redis.call('PUBLISH', ARGV[3], 'started')
return {'ok', tostring(attempts)}
"""
)

# KEYS: job, event log. ARGV: max attempts, error json (no closing brace: the attempt and
#   time are added here), now, first delay, longest delay, jitter factor, channel
# A retryable failure of a running job: while attempts remain, its error joins
# ``attempt_errors`` and the job stays started, leased until its retry is due (a delivery
# before then waits), with no terminal event (webhooks go out for the final outcome only).
# Returns {'retry', '<seconds until the retry>'}, {'final', '<attempts>'} when none remain,
# or {'gone', '<status>'} when the job is no longer running (canceled meanwhile).
RETRY_SCRIPT = """
local status = redis.call('HGET', KEYS[1], 'status')
if status ~= 'started' then return {'gone', status or 'missing'} end
local attempts = tonumber(redis.call('HGET', KEYS[1], 'attempts') or '0')
if attempts >= tonumber(ARGV[1]) then return {'final', tostring(attempts)} end
local delay = math.min(tonumber(ARGV[5]), tonumber(ARGV[4]) * 2 ^ (attempts - 1))
delay = delay * tonumber(ARGV[6])
local entry = ARGV[2] .. ',"attempt":' .. attempts .. ',"at":' .. ARGV[3] .. '}'
local seen = redis.call('HGET', KEYS[1], 'attempt_errors')
if seen then
  entry = string.sub(seen, 1, -2) .. ',' .. entry .. ']'
else
  entry = '[' .. entry .. ']'
end
local clock = redis.call('TIME')  -- leases are the store's clock's, whoever writes them
local due = tonumber(clock[1]) + tonumber(clock[2]) / 1000000 + delay
redis.call('HSET', KEYS[1], 'attempt_errors', entry, 'lease_until', tostring(due),
  'retry_at', tostring(due))
redis.call('HDEL', KEYS[1], 'progress')
redis.call('XADD', KEYS[2], '*', 'status', 'started', 'at', ARGV[3], 'attempts', tostring(attempts),
  'retry_at', tostring(due))
redis.call('PUBLISH', ARGV[7], 'retry')
return {'retry', tostring(delay)}
"""

# KEYS: job. ARGV: lease seconds (from now on the store's clock)
RENEW_SCRIPT = (
    _STORE_CLOCK_LUA
    + """
if redis.call('HGET', KEYS[1], 'status') == 'started' then
  redis.call('HSET', KEYS[1], 'lease_until', tostring(store_clock() + tonumber(ARGV[1])))
  return 1
end
return 0
"""
)

# KEYS: job, event log. ARGV: progress json, now, channel
# Only a started job takes progress: a late report cannot touch a finished or canceled one.
# It goes to the event log (a ``progress`` entry), never to webhooks.
PROGRESS_SCRIPT = """
if redis.call('HGET', KEYS[1], 'status') ~= 'started' then return 0 end
redis.call('HSET', KEYS[1], 'progress', ARGV[1])
local attempts = redis.call('HGET', KEYS[1], 'attempts') or '0'
redis.call('XADD', KEYS[2], '*', 'status', 'started', 'at', ARGV[2], 'attempts', attempts,
  'progress', ARGV[1])
redis.call('PUBLISH', ARGV[3], 'progress')
return 1
"""

# KEYS: job, event log, webhook outbox. ARGV: new status, field, payload, now, channel
FINISH_SCRIPT = (
    STATE_LUA
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


def wall_time() -> float:
    return time.time()


def as_text(value: bytes | str) -> str:
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
    version = raw.get(b"version")
    progress = raw.get(b"progress")
    options = JobOptions.from_record(
        raw.get(b"priority"), raw.get(b"deadline"), raw.get(b"timeout_s")
    )
    job = Job(
        id=raw[b"id"].decode(),
        task=raw[b"task"].decode(),
        version=version.decode() if version else None,
        status=JobStatus(raw[b"status"].decode()),
        input=orjson.loads(raw[b"input"]),
        progress=Progress(**orjson.loads(progress)) if progress else None,
        result=orjson.loads(result) if result else None,
        error=ErrorInfo(**orjson.loads(error)) if error else None,
        attempt_errors=orjson.loads(raw[b"attempt_errors"]) if b"attempt_errors" in raw else None,
        attempts=int(raw.get(b"attempts", b"0")),
        priority=options.priority,
        deadline=_ts(raw.get(b"deadline")),
        timeout_s=options.timeout_s,
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
    *,
    version: str | None = None,
    options: JobOptions | None = None,
) -> dict[str, str | bytes]:
    extra: dict[str, str | bytes] = dict(webhook.fields()) if webhook else {}
    if options is not None:
        extra.update(options.record_fields())
    if version is not None:
        extra["version"] = version
    return extra | {
        "id": job_id,
        "task": task,
        "queue": queue,
        "owner": owner,
        "status": JobStatus.QUEUED.value,
        "input": orjson.dumps(payload),
        "attempts": "0",
        "created_at": repr(wall_time()),
        "retention": str(retention_s),
    }


def decode_new(fields: dict[str, str | bytes]) -> StoredJob:
    """The record as just written, without reading it back."""
    raw = {k.encode(): v if isinstance(v, bytes) else v.encode() for k, v in fields.items()}
    stored = decode(raw)
    assert stored is not None
    return stored


def error_json(code: str, message: str) -> bytes:
    return orjson.dumps({"code": code, "message": message})


@dataclass(frozen=True)
class Claim:
    """What a worker may do with a delivered task."""

    # "ok" (run it), "skip" (finished or canceled), "busy" (a live worker holds it; detail is
    # the seconds its lease has left), "missing" (expired), "exhausted" (attempts used up),
    # "expired" (not started before its deadline: ended expired now)
    outcome: str
    detail: str

    @property
    def run(self) -> bool:
        return self.outcome == "ok"
