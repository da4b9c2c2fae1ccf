"""Where job metrics are written: counters and histogram buckets in one store hash.

Every API and worker process on every host records into the same Redis hash, at the moment
a job changes state and inside the same Lua script (``LUA_HOOKS`` is prepended to the job
store's scripts), so a count moves exactly when the state does: a redelivered message that
does not run a job again does not count it again, and nothing costs an extra round trip.
The API reads the hash back when it is scraped (see ``asyncml.metrics.exposition``).

Each queue also has a sorted set of the jobs waiting on it (score: when accepted), which
gives its depth as the store sees it, the age of its oldest job and a job's place in line,
and one of the jobs running on it (score: when last started), where the republisher looks
for jobs whose worker and message are both gone (``asyncml.worker.republish``).

Fields of ``asyncml:metrics``:

    submitted|<task>                      jobs recorded by the API
    publish_failed|<task>                 of those, publishes that failed (answered 503)
    finished|<task>|<status>              jobs that ended succeeded/failed/canceled/expired
    expired|<task>                        jobs whose record expired before a worker took them
    wait|<task>|<le> , wait|<task>|sum    time in queue (accepted → first start) histogram
    run|<task>|<le> , run|<task>|sum      run time (start → succeeded/failed) histogram
    batch|<task>|<le> , batch|<task>|sum  jobs per run_batch call of a batched task
    webhook_failed|<reason>               webhook delivery attempts that failed
    webhook_abandoned                     webhooks given up after their last attempt

Histogram buckets are stored per bucket (not cumulative); ``<le>`` is the bucket's upper
bound as ``repr(float)`` or ``+Inf``.
"""

from __future__ import annotations

import re
from typing import Any

PREFIX = "asyncml"  # the job store's key prefix (asyncml.store.PREFIX)
METRICS_KEY = f"{PREFIX}:metrics"
QUEUED_PREFIX = f"{PREFIX}:queued:"
RUNNING_PREFIX = f"{PREFIX}:running:"

# Time in queue spans sub-second (warm workers) to many minutes (scale from zero, backlog).
WAIT_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)
RUN_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 100)
_REASON = re.compile(r"[^a-z0-9_]+")


def queued_key(queue: str) -> str:
    return f"{QUEUED_PREFIX}{queue}"


def running_key(queue: str) -> str:
    return f"{RUNNING_PREFIX}{queue}"


def bucket_label(bound: float) -> str:
    return repr(float(bound))


def _lua_buckets(bounds: tuple[float, ...]) -> str:
    return "{" + ", ".join(f"{{{float(b)!r}, '{bucket_label(b)}'}}" for b in bounds) + "}"


# Lua functions the job store's scripts call where a job changes state. ``key`` is the job
# hash; keys other than KEYS[] are touched, so the store cannot be a Redis Cluster.
LUA_HOOKS = f"""
local M_KEY = '{METRICS_KEY}'
local Q_PREFIX = '{QUEUED_PREFIX}'
local R_PREFIX = '{RUNNING_PREFIX}'
local WAIT_BUCKETS = {_lua_buckets(WAIT_BUCKETS)}
local RUN_BUCKETS = {_lua_buckets(RUN_BUCKETS)}
local function m_observe(name, value, buckets)
  if value < 0 then value = 0 end
  local label = '+Inf'
  for _, b in ipairs(buckets) do
    if value <= b[1] then label = b[2]; break end
  end
  redis.call('HINCRBY', M_KEY, name .. '|' .. label, 1)
  redis.call('HINCRBYFLOAT', M_KEY, name .. '|sum', value)
end
local function m_job(key)
  return redis.call('HMGET', key, 'id', 'task', 'queue', 'created_at', 'started_at')
end
local function m_created(key)
  local j = m_job(key)
  redis.call('HINCRBY', M_KEY, 'submitted|' .. j[2], 1)
  redis.call('ZADD', Q_PREFIX .. j[3], j[4], j[1])
end
local function m_started(key, before, now)
  local j = m_job(key)
  redis.call('ZADD', R_PREFIX .. j[3], now, j[1])
  if before ~= 'queued' then return end
  redis.call('ZREM', Q_PREFIX .. j[3], j[1])
  m_observe('wait|' .. j[2], tonumber(now) - tonumber(j[4]), WAIT_BUCKETS)
end
local function m_finished(key, before, status, now)
  local j = m_job(key)
  redis.call('HINCRBY', M_KEY, 'finished|' .. j[2] .. '|' .. status, 1)
  if before == 'queued' then
    redis.call('ZREM', Q_PREFIX .. j[3], j[1])
  else
    redis.call('ZREM', R_PREFIX .. j[3], j[1])
  end
  if before ~= 'queued' and now and j[5] and (status == 'succeeded' or status == 'failed') then
    m_observe('run|' .. j[2], tonumber(now) - tonumber(j[5]), RUN_BUCKETS)
  end
  if status == 'expired' then redis.call('HINCRBY', M_KEY, 'expired|' .. j[2], 1) end
end
"""


def on_discard(pipe: Any, job_id: str, task: str, queue: str) -> None:
    """Queue on ``pipe`` what undoing a job whose publish failed means for the metrics."""
    pipe.zrem(queued_key(queue), job_id)
    pipe.hincrby(METRICS_KEY, f"publish_failed|{task}", 1)


def record_expired(client: Any, task: str) -> None:
    """A worker got a job whose record had already expired (it waited past retention)."""
    client.hincrby(METRICS_KEY, f"expired|{task}", 1)


def record_batch(client: Any, task: str, size: int) -> None:
    """A batched task ran ``size`` jobs in one call (``asyncml_batch_size{task}``)."""
    label = next((bucket_label(b) for b in BATCH_BUCKETS if size <= b), "+Inf")
    pipe = client.pipeline(transaction=False)
    pipe.hincrby(METRICS_KEY, f"batch|{task}|{label}", 1)
    pipe.hincrbyfloat(METRICS_KEY, f"batch|{task}|sum", size)
    pipe.execute()


def _reason(reason: str) -> str:
    return _REASON.sub("_", reason.lower()).strip("_")[:40] or "unknown"


def record_webhook_failure(client: Any, *, reason: str, final: bool = False) -> None:
    """Count a failed webhook delivery attempt; ``final`` when it will not be retried.

    ``client`` is a ``redis.Redis`` (or a pipeline) on the job store, e.g. a worker's
    ``ctx.store.redis``. ``reason`` is a short label such as ``http_5xx``, ``timeout``,
    ``connection`` or ``destination_not_allowed`` (lower-cased, at most 40 characters).
    Shown as ``asyncml_webhook_delivery_failures_total{reason}`` and
    ``asyncml_webhook_deliveries_abandoned_total``.
    """
    pipe = client.pipeline(transaction=False)
    pipe.hincrby(METRICS_KEY, f"webhook_failed|{_reason(reason)}", 1)
    if final:
        pipe.hincrby(METRICS_KEY, "webhook_abandoned", 1)
    pipe.execute()


async def arecord_webhook_failure(client: Any, *, reason: str, final: bool = False) -> None:
    """``record_webhook_failure`` for a ``redis.asyncio.Redis`` client (the API's store)."""
    async with client.pipeline(transaction=False) as pipe:
        pipe.hincrby(METRICS_KEY, f"webhook_failed|{_reason(reason)}", 1)
        if final:
            pipe.hincrby(METRICS_KEY, "webhook_abandoned", 1)
        await pipe.execute()
