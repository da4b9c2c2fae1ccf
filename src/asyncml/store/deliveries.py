"""Webhook deliveries in the job store: the outbox, claims on it, the per-job delivery log.

A delivery is one event of one job (``<job id>:<event>``), written by the state change that
caused it (``asyncml.store.effects``). It moves through

    scheduled ──sweeper──► dispatched ──task begins──► sending ──► succeeded | failed
        ▲                                                  │
        └────────────── retrying (due later) ◄─────────────┘

Its place in the outbox (a sorted set) is when it is next due *or* when its current claim
lapses, so a process that dies mid-way never strands it: the sweeper finds it due again.
Every move is one Lua script that checks the state and the attempt number first, so two
webhooks workers never send the same attempt twice, and a stale task message is a no-op.
Times in the outbox are the store's own clock (``TIME``), so worker hosts need not agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
import redis
import redis.asyncio as aredis

from asyncml.schemas import WebhookAttempt
from asyncml.store.effects import WEBHOOK_KEEP_S, delivery_member
from asyncml.store.keys import (
    WEBHOOK_DUE_KEY,
    WEBHOOK_KICK_CHANNEL,
    WEBHOOK_PREFIX,
    WEBHOOK_SECRET_KEY,
    delivery_key,
    delivery_log_key,
    job_key,
)
from asyncml.webhooks import generate_secret

SECRET_KEY = WEBHOOK_SECRET_KEY
LOG_MAX = 100

_CLOCK = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
"""

# KEYS: outbox. ARGV: batch size, claim seconds, attempts allowed, delivery key prefix,
# delivery log key prefix, job key prefix, keep seconds. Returns {member, attempt, ...}
# and the seconds until the next item is due (-1: none).
_DISPATCH = (
    _CLOCK
    + """
local out = {}
for _, member in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now,
    'LIMIT', 0, tonumber(ARGV[1]))) do
  local dkey = ARGV[4] .. member
  local d = redis.call('HMGET', dkey, 'state', 'attempt', 'step', 'job_id', 'event')
  local state = d[1]
  if state == 'sending' then
    -- Its sender stopped before recording an outcome: that attempt counts as failed.
    local step = tonumber(d[3]) + 1
    local last = step >= tonumber(ARGV[3])
    local outcome = 'retrying'
    if last then outcome = 'failed' end
    local log = ARGV[5] .. d[4]
    redis.call('RPUSH', log, cjson.encode({event = d[5], webhook_id = 'msg_' .. d[4] .. '_' .. d[5],
      attempt = tonumber(d[2]), at = now, outcome = outcome,
      error = 'no outcome recorded: the delivering worker stopped during the attempt'}))
    redis.call('LTRIM', log, -LOG_MAX, -1)
    redis.call('EXPIRE', log, ARGV[7])
    if last then
      redis.call('HSET', dkey, 'state', 'failed')
      local job = ARGV[6] .. d[4]
      if redis.call('HGET', job, 'webhook_event') == d[5] then
        redis.call('HSET', job, 'webhook_status', 'failed')
      end
      state = false
    else
      redis.call('HSET', dkey, 'state', 'scheduled', 'attempt', tonumber(d[2]) + 1, 'step', step)
      state = 'scheduled'
      d[2] = tostring(tonumber(d[2]) + 1)
    end
  end
  if state == 'scheduled' or state == 'dispatched' then
    -- A message still unrun when its claim lapses is sent again, with a claim twice as
    -- long each time, so a long backlog does not fill the queue with copies.
    local n = redis.call('HINCRBY', dkey, 'dispatches', 1)
    local claim = math.min(tonumber(ARGV[2]) * 2 ^ (n - 1), 3600)
    redis.call('HSET', dkey, 'state', 'dispatched')
    redis.call('ZADD', KEYS[1], now + claim, member)
    out[#out + 1] = member
    out[#out + 1] = d[2]
  else
    redis.call('ZREM', KEYS[1], member)
  end
end
local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
local wait = -1
if first[2] then wait = math.max(0, tonumber(first[2]) - now) end
return {out, tostring(wait)}
""".replace("LOG_MAX", str(LOG_MAX))
)

# KEYS: delivery, outbox, job. ARGV: member, attempt, claim seconds.
_BEGIN = (
    _CLOCK
    + """
local d = redis.call('HMGET', KEYS[1], 'state', 'attempt', 'event')
if d[1] ~= 'dispatched' or d[2] ~= ARGV[2] then return false end
redis.call('HSET', KEYS[1], 'state', 'sending', 'dispatches', 0)
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[3]), ARGV[1])
if redis.call('HGET', KEYS[3], 'webhook_event') == d[3] then
  redis.call('HSET', KEYS[3], 'webhook_status', 'delivering')
end
return redis.call('HGETALL', KEYS[1])
"""
)

# KEYS: delivery, outbox, job, delivery log. ARGV: member, attempt, outcome (succeeded,
# failed or retrying), seconds until the next attempt, log entry, keep seconds.
_FINISH = (
    _CLOCK
    + f"""
local d = redis.call('HMGET', KEYS[1], 'state', 'attempt', 'event')
if d[1] ~= 'sending' or d[2] ~= ARGV[2] then return 0 end
redis.call('RPUSH', KEYS[4], ARGV[5])
redis.call('LTRIM', KEYS[4], -{LOG_MAX}, -1)
redis.call('EXPIRE', KEYS[4], ARGV[6])
local shown = ARGV[3]
if ARGV[3] == 'retrying' then
  redis.call('HSET', KEYS[1], 'state', 'scheduled', 'attempt', tonumber(ARGV[2]) + 1)
  redis.call('HINCRBY', KEYS[1], 'step', 1)
  redis.call('ZADD', KEYS[2], now + tonumber(ARGV[4]), ARGV[1])
  -- Wake the sweepers: they may be waiting longer than this retry's delay.
  redis.call('PUBLISH', '{WEBHOOK_KICK_CHANNEL}', ARGV[1])
  shown = 'pending'
else
  redis.call('HSET', KEYS[1], 'state', ARGV[3])
  redis.call('ZREM', KEYS[2], ARGV[1])
end
redis.call('EXPIRE', KEYS[1], ARGV[6])
if redis.call('HGET', KEYS[3], 'webhook_event') == d[3] then
  redis.call('HSET', KEYS[3], 'webhook_status', shown)
end
return 1
"""
)

# KEYS: job, outbox. ARGV: delivery key prefix, keep seconds. Re-queues the latest event.
_REDELIVER = (
    _CLOCK
    + f"""
local event = redis.call('HGET', KEYS[1], 'webhook_event')
if not event then return 'none' end
local member = redis.call('HGET', KEYS[1], 'id') .. ':' .. event
local dkey = ARGV[1] .. member
local state = redis.call('HGET', dkey, 'state')
if not state then return 'gone' end
if state == 'dispatched' or state == 'sending' then return 'busy' end
if state ~= 'scheduled' then redis.call('HINCRBY', dkey, 'attempt', 1) end
redis.call('HSET', dkey, 'state', 'scheduled', 'step', 0)
redis.call('EXPIRE', dkey, ARGV[2])
redis.call('ZADD', KEYS[2], now, member)
redis.call('HSET', KEYS[1], 'webhook_status', 'pending')
redis.call('PUBLISH', '{WEBHOOK_KICK_CHANNEL}', member)
return 'ok'
"""
)


@dataclass(frozen=True)
class Delivery:
    """A claimed attempt: what to send, and to where."""

    member: str
    job_id: str
    event: str
    status: str
    at: float
    attempts: int
    url: str
    shape: str
    attempt: int
    step: int
    body: bytes | None
    owner: str  # the job's owner (its API key's name); "" in records older than that field

    @classmethod
    def decode(cls, member: str, flat: list[bytes]) -> Delivery:
        raw = dict(zip(flat[::2], flat[1::2], strict=True))
        return cls(
            member=member,
            job_id=raw[b"job_id"].decode(),
            event=raw[b"event"].decode(),
            status=raw[b"status"].decode(),
            at=float(raw[b"at"]),
            attempts=int(raw.get(b"attempts", b"0")),
            url=raw[b"url"].decode(),
            shape=raw.get(b"shape", b"v1").decode(),
            attempt=int(raw[b"attempt"]),
            step=int(raw[b"step"]),
            body=raw.get(b"body"),
            owner=raw.get(b"owner", b"").decode(),
        )

    def raw_event(self) -> dict[str, str]:
        """The event's fields, as ``asyncml.store.effects.event_view`` takes them."""
        return {"status": self.status, "at": repr(self.at), "attempts": str(self.attempts)}


class DeliveryStore:
    """The webhooks workers' side: claim, send, record."""

    def __init__(self, client: redis.Redis) -> None:
        self.redis = client
        self._dispatch = client.register_script(_DISPATCH)
        self._begin = client.register_script(_BEGIN)
        self._finish = client.register_script(_FINISH)

    def dispatch(
        self, *, batch: int, claim_s: float, attempts: int
    ) -> tuple[list[tuple[str, int]], float | None]:
        """Claim what is due for sending; returns ``(member, attempt)`` pairs and the seconds
        until the next item falls due (None when the outbox is empty)."""
        args: list[str | int | float] = [
            batch,
            claim_s,
            attempts,
            WEBHOOK_PREFIX,
            delivery_log_key(""),
            job_key(""),
            WEBHOOK_KEEP_S,
        ]
        flat, wait = self._dispatch(keys=[WEBHOOK_DUE_KEY], args=args)
        pairs = [(m.decode(), int(a)) for m, a in zip(flat[::2], flat[1::2], strict=True)]
        seconds = float(wait)
        return pairs, (None if seconds < 0 else seconds)

    def begin(self, member: str, attempt: int, claim_s: float) -> Delivery | None:
        """Take this attempt for sending, or None if it is not (or no longer) this one's."""
        job_id = member.rpartition(":")[0]
        flat = self._begin(
            keys=[delivery_key(member), WEBHOOK_DUE_KEY, job_key(job_id)],
            args=[member, attempt, claim_s],
        )
        return Delivery.decode(member, flat) if flat else None

    def url(self, member: str) -> str | None:
        """Where a delivery goes (None once its record is gone), to pick its lane."""
        value = self.redis.hget(delivery_key(member), "url")
        return value.decode() if isinstance(value, bytes) else None

    def keep_body(self, delivery: Delivery, body: bytes) -> None:
        """Every retry of an event sends the same bytes."""
        self.redis.hset(delivery_key(delivery.member), "body", body)

    def finish(
        self, delivery: Delivery, outcome: str, entry: dict[str, Any], next_s: float | None
    ) -> bool:
        keep = max(WEBHOOK_KEEP_S, int(next_s or 0) + 86400)
        done = self._finish(
            keys=[
                delivery_key(delivery.member),
                WEBHOOK_DUE_KEY,
                job_key(delivery.job_id),
                delivery_log_key(delivery.job_id),
            ],
            args=[
                delivery.member,
                delivery.attempt,
                outcome,
                next_s or 0,
                orjson.dumps(entry),
                keep,
            ],
        )
        return bool(done)

    def secret(self) -> str:
        """The secret asyncml keeps when none is configured, made on first use."""
        self.redis.set(SECRET_KEY, generate_secret(), nx=True)
        value = self.redis.get(SECRET_KEY)
        assert isinstance(value, bytes)
        return value.decode()

    def close(self) -> None:
        self.redis.close()


# ---- the API's side ---------------------------------------------------------------------


async def read_log(client: aredis.Redis, job_id: str) -> list[WebhookAttempt]:
    raw: list[Any] = await client.lrange(delivery_log_key(job_id), 0, -1)
    return [WebhookAttempt.model_validate_json(item) for item in raw]


async def redeliver(client: aredis.Redis, job_id: str) -> str:
    """Re-queue the latest event's delivery: "ok", "none" (no event yet), "busy" (being
    sent right now) or "gone" (its record has expired)."""
    outcome: bytes = await client.eval(
        _REDELIVER, 2, job_key(job_id), WEBHOOK_DUE_KEY, WEBHOOK_PREFIX, WEBHOOK_KEEP_S
    )
    return outcome.decode()


async def stored_secret(client: aredis.Redis) -> str:
    """The secret asyncml keeps when none is configured, made on first use."""
    await client.set(SECRET_KEY, generate_secret(), nx=True)
    value: Any = await client.get(SECRET_KEY)
    return bytes(value).decode()


__all__ = ["Delivery", "DeliveryStore", "delivery_member", "read_log", "redeliver"]
