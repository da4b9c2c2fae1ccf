"""What the republisher reads and marks in the job store (``asyncml.worker.republish``).

The store's side of a pass: which jobs have waited (or stayed started) too long, marked as
examined in one Lua script so two passes never pick the same job; what each of them needs
to be sent again; and the per-queue lock that spaces the passes. Must not import Celery,
kombu or anything above ``asyncml.store``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import orjson
import redis

from asyncml.scheduling import JobOptions
from asyncml.store.keys import (
    job_key,
    queued_key,
    republish_lock_key,
    republish_seen_key,
    running_key,
)

BATCH = 500  # jobs sent again per queue and pass, at most
SCAN = 10000  # old waiting jobs looked at per pass (ASYNCML_MAX_QUEUED's default)

# The two passes share everything but which old entries qualify: they read the entries
# scored before now - after, skip those examined since then, mark what they pick (at most
# ``batch``), and keep the examined set only as long as it matters.
_PICK_HEAD = """
local now, after = tonumber(ARGV[1]), tonumber(ARGV[2])
local cutoff = now - after
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', cutoff)
local old = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', cutoff, 'LIMIT', 0, tonumber(ARGV[4]))
local picked = {}
local function mark(id)
  if redis.call('ZSCORE', KEYS[2], id) then return false end
  picked[#picked + 1] = id
  redis.call('ZADD', KEYS[2], now, id)
  return #picked >= tonumber(ARGV[3])
end
"""
_PICK_TAIL = """
if #picked > 0 then redis.call('PEXPIRE', KEYS[2], math.ceil(after * 2000)) end
return picked
"""

# KEYS: waiting set, examined set. ARGV: now, after, batch, scan.
# Jobs waiting since before now - after and not examined since then; they are marked.
PICK_WAITING_SCRIPT = (
    _PICK_HEAD
    + """
for _, id in ipairs(old) do
  if mark(id) then break end
end
"""
    + _PICK_TAIL
)

# KEYS: running set, examined set. ARGV: now, after, batch, scan, job key prefix.
# Started jobs whose lease lapsed before now - after and not examined since then; they are
# marked. Entries of jobs no longer started (an expired record) leave the running set.
PICK_STRANDED_SCRIPT = (
    _PICK_HEAD
    + """
for _, id in ipairs(old) do
  local job = redis.call('HMGET', ARGV[5] .. id, 'status', 'lease_until')
  if job[1] ~= 'started' then
    redis.call('ZREM', KEYS[1], id)
  elseif tonumber(job[2] or '0') < cutoff and mark(id) then
    break
  end
end
"""
    + _PICK_TAIL
)


seen_key = republish_seen_key
lock_key = republish_lock_key


def take_turn(client: redis.Redis, queue: str, node: str, every: float) -> bool:
    """Whether this worker makes the next pass over ``queue``: the lock lapses by itself
    after ``every`` seconds, so passes are that far apart whichever worker makes them."""
    return bool(client.set(lock_key(queue), node, nx=True, px=max(1, int(every * 1000))))


def pick(
    client: redis.Redis, queue: str, now: float, after: float, batch: int = BATCH
) -> list[str]:
    """Jobs waiting on ``queue`` since before ``now - after`` that no pass examined in the
    last ``after`` seconds; marks them examined."""
    picked = client.eval(
        PICK_WAITING_SCRIPT, 2, queued_key(queue), seen_key(queue), now, after, batch, SCAN
    )
    return [_text(job_id) for job_id in picked]


def pick_stranded(
    client: redis.Redis, queue: str, now: float, after: float, batch: int = BATCH
) -> list[str]:
    """Jobs started on ``queue`` whose lease lapsed before ``now - after`` and that no pass
    examined in the last ``after`` seconds; marks them examined."""
    picked = client.eval(
        PICK_STRANDED_SCRIPT,
        2,
        running_key(queue),
        seen_key(queue),
        now,
        after,
        batch,
        SCAN,
        job_key(""),
    )
    return [_text(job_id) for job_id in picked]


def forget(client: redis.Redis, queue: str, job_ids: Iterable[str]) -> None:
    """Let the next pass examine these jobs again (their re-send failed)."""
    ids = list(job_ids)
    if ids:
        client.zrem(seen_key(queue), *ids)


def still_queued(
    client: redis.Redis,
    queue: str,
    job_ids: Iterable[str],
    known: Mapping[str, str],
    *,
    stranded_before: float | None = None,
) -> dict[str, tuple[str, Any, str | None, JobOptions]]:
    """``{job id: (task name, input, version, options)}`` for the jobs that are still
    queued, of the tasks in ``known`` (task name -> Celery name). Drops from the waiting set
    the jobs whose record has expired. With ``stranded_before``: the jobs still started
    whose lease lapsed before that time instead (and the running set is the one cleaned)."""
    job_ids = list(job_ids)
    with client.pipeline(transaction=False) as pipe:
        for job_id in job_ids:
            pipe.hmget(
                job_key(job_id),
                "status",
                "task",
                "input",
                "version",
                "lease_until",
                "priority",
                "deadline",
                "timeout_s",
            )
        rows = pipe.execute()
    found: dict[str, tuple[str, Any, str | None, JobOptions]] = {}
    expired = []
    for job_id, (status, task, payload, version, lease, *options) in zip(
        job_ids, rows, strict=True
    ):
        if stranded_before is None:
            wanted = status == b"queued"
        else:
            wanted = status == b"started" and float(lease or 0) < stranded_before
        if status is None:
            expired.append(job_id)
        elif wanted and _text(task) in known:
            found[job_id] = (
                _text(task),
                orjson.loads(payload),
                _text(version) if version else None,
                JobOptions.from_record(*options),
            )
    if expired:
        index = queued_key(queue) if stranded_before is None else running_key(queue)
        client.zrem(index, *expired)
    return found


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
