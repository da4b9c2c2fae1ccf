"""What every state change of a job writes besides the job itself.

The same Lua script that changes a job's state (see ``asyncml.store``) also calls
``EMIT_LUA``'s ``emit``, so that, atomically with the change:

- an entry is appended to the job's event log, a Redis Stream that expires with the job
  (``GET /v1/jobs/{id}/events`` replays it; a reconnecting client resumes after its
  ``Last-Event-ID``);
- when the job has a webhook that wants this event, a delivery record is written and put in
  the webhook outbox (a sorted set scored by when it is due), and the webhooks workers are
  told on a pub/sub channel. A state change can therefore never be recorded without its
  webhook, whatever process dies when.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from asyncml.schemas import LEGACY_STATUS, Job, JobStatus, LegacyTaskResult, Progress
from asyncml.store.keys import (
    WEBHOOK_KICK_CHANNEL,
    WEBHOOK_PREFIX,
)

# Delivery records outlive a job whose webhook is still being retried.
WEBHOOK_KEEP_S = 7 * 24 * 3600


def delivery_member(job_id: str, event: str) -> str:
    return f"{job_id}:{event}"


def webhook_event(status: str) -> str:
    """The webhook event a job status belongs to."""
    return "started" if status == JobStatus.STARTED.value else "completed"


@dataclass(frozen=True)
class WebhookTarget:
    """Where and what a job's webhook is sent; ``shape`` is "v1" or "legacy"."""

    url: str
    events: tuple[str, ...] = ("completed",)
    shape: str = "v1"

    def fields(self) -> dict[str, str]:
        return {
            "webhook": self.url,
            "webhook_events": ",".join(self.events),
            "webhook_shape": self.shape,
            "webhook_status": "pending",
        }


# emit(job key, log key, due key, status, at): append to the event log, and put a webhook
# delivery in the outbox when one is wanted. Returns the event's id. Delivery keys are
# derived from WEBHOOK_PREFIX (a single-node store; Redis Cluster is not supported).
EMIT_LUA = f"""
local function emit(job, evlog, due, status, at)
  local ttl = redis.call('PTTL', job)
  local attempts = redis.call('HGET', job, 'attempts') or '0'
  local id = redis.call('XADD', evlog, '*', 'status', status, 'at', at, 'attempts', attempts)
  if ttl > 0 then redis.call('PEXPIRE', evlog, ttl) end
  local url = redis.call('HGET', job, 'webhook')
  if (not url) or status == 'queued' then return id end
  local event = 'completed'
  if status == 'started' then event = 'started' end
  local wanted = ',' .. (redis.call('HGET', job, 'webhook_events') or 'completed') .. ','
  if not string.find(wanted, ',' .. event .. ',', 1, true) then
    if event == 'completed' and not redis.call('HGET', job, 'webhook_event') then
      redis.call('HSET', job, 'webhook_status', 'none')
    end
    return id
  end
  local member = redis.call('HGET', job, 'id') .. ':' .. event
  local dkey = '{WEBHOOK_PREFIX}' .. member
  if redis.call('EXISTS', dkey) == 1 then return id end
  local clock = redis.call('TIME')
  local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
  redis.call('HSET', dkey, 'job_id', redis.call('HGET', job, 'id'), 'event', event,
    'status', status, 'at', at, 'attempts', attempts, 'url', url,
    'shape', redis.call('HGET', job, 'webhook_shape') or 'v1',
    'owner', redis.call('HGET', job, 'owner') or '',
    'state', 'scheduled', 'attempt', '1', 'step', '0')
  redis.call('EXPIRE', dkey, math.max(math.floor(ttl / 1000), {WEBHOOK_KEEP_S}))
  redis.call('ZADD', due, now, member)
  redis.call('HSET', job, 'webhook_status', 'pending', 'webhook_event', event)
  redis.call('PUBLISH', '{WEBHOOK_KICK_CHANNEL}', member)
  return id
end
"""


def _text(raw: Mapping[Any, Any], name: str) -> str:
    value = raw.get(name.encode(), raw.get(name, b""))
    return value.decode() if isinstance(value, bytes) else str(value)


def event_name(raw: Mapping[Any, Any]) -> str:
    """The SSE event name of a log entry: its status, or ``progress`` for a progress entry."""
    return "progress" if _text(raw, "progress") else _text(raw, "status")


def event_view(job: Job, raw: Mapping[Any, Any]) -> Job:
    """The job as it was at an event, from its current record and the event's fields
    (``status``, ``at``, ``attempts``): a later state never leaks into an earlier event."""
    status = JobStatus(_text(raw, "status"))
    at = dt.datetime.fromtimestamp(float(_text(raw, "at")), tz=dt.UTC)
    update: dict[str, Any] = {"status": status, "attempts": int(_text(raw, "attempts") or 0)}
    progress = _text(raw, "progress")
    if status in (JobStatus.QUEUED, JobStatus.STARTED):
        update["progress"] = Progress(**orjson.loads(progress)) if progress else None
    if status == JobStatus.QUEUED:
        update |= {"started_at": None, "finished_at": None, "result": None, "error": None}
    elif status == JobStatus.STARTED:
        update |= {"started_at": at, "finished_at": None, "result": None, "error": None}
    return job.model_copy(update=update)


def legacy_result(job: Job) -> LegacyTaskResult:
    """The job in the original contract's shape (``GET /task/{id}``)."""
    error = f"{job.error.code}: {job.error.message}" if job.error else None
    return LegacyTaskResult(
        id=job.id,
        status=LEGACY_STATUS[job.status],  # type: ignore[arg-type]
        error=error,
        result=job.result,
    )
