"""The deadline sweep: ends queued jobs whose start deadline has passed.

A job with ``deadline`` (or ``start_within_s``) is added to ``DEADLINES_KEY`` when it is
created, scored with its deadline. A worker that takes it checks the deadline itself (the
start script); this sweep ends the ones still queued when no worker comes, so a client
waiting on such a job hears ``expired`` on time. Both the API processes and the workers
sweep, once a second at most across the deployment (a short lock in the store), so jobs
expire while a queue has no worker and while the API is the only thing running.
"""

from __future__ import annotations

import time
from typing import Any

from asyncml.events import WEBHOOK_DUE_KEY, event_log_key
from asyncml.store.records import (
    _STATE_LUA,
    DEADLINES_KEY,
    EXPIRED_MESSAGE,
    PREFIX,
    _error_json,
    events_channel,
    job_key,
)

SWEEP_EVERY_S = 1.0
BATCH = 500
LOCK_KEY = f"{PREFIX}:deadlines:lock"

# KEYS: deadlines set, webhook outbox. ARGV: now, batch, error json, then the prefixes of
# job keys, event logs and event channels (the job id follows each).
_SWEEP = (
    _STATE_LUA
    + """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
local ended = 0
for _, id in ipairs(due) do
  redis.call('ZREM', KEYS[1], id)
  local job = ARGV[4] .. id
  if redis.call('HGET', job, 'status') == 'queued' then
    expire_queued(job, ARGV[5] .. id, KEYS[2], ARGV[1], ARGV[6] .. id, ARGV[3])
    ended = ended + 1
  end
end
return {ended, #due}
"""
)


def _args(now: float, batch: int) -> tuple[list[str], list[Any]]:
    keys = [DEADLINES_KEY, WEBHOOK_DUE_KEY]
    args: list[Any] = [
        repr(now),
        batch,
        _error_json("expired", EXPIRED_MESSAGE),
        job_key(""),
        event_log_key(""),
        events_channel(""),
    ]
    return keys, args


def sweep(client: Any, now: float | None = None, batch: int = BATCH) -> int:
    """End the queued jobs past their deadline (sync client); how many ended."""
    keys, args = _args(time.time() if now is None else now, batch)
    ended, _ = client.register_script(_SWEEP)(keys=keys, args=args)
    return int(ended)


async def asweep(client: Any, now: float | None = None, batch: int = BATCH) -> int:
    """``sweep`` for an asyncio client."""
    keys, args = _args(time.time() if now is None else now, batch)
    ended, _ = await client.register_script(_SWEEP)(keys=keys, args=args)
    return int(ended)


def turn_args(node: str) -> dict[str, Any]:
    """``SET`` options that let one sweeper in the deployment run per ``SWEEP_EVERY_S``."""
    return {"name": LOCK_KEY, "value": node, "nx": True, "px": int(SWEEP_EVERY_S * 1000)}
