"""What each queue looks like from the job store: waiting jobs, oldest age, live workers.

Waiting jobs are the per-queue sorted sets the job store's scripts keep (see
``asyncml.store.counters``). Live workers come from heartbeats: every worker's main
process adds ``<node name>|<processes>`` to the sorted set of each queue it serves every
``HEARTBEAT_EVERY_S`` seconds, scored with the time; a member older than
``HEARTBEAT_TTL_S`` belongs to a worker that stopped without saying goodbye.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from asyncml.store.keys import queued_key, workers_key

HEARTBEAT_EVERY_S = 5.0
HEARTBEAT_TTL_S = 20.0


def _member(node: str, processes: int) -> str:
    return f"{node}|{processes}"


def beat(client: Any, node: str, queues: list[str], processes: int) -> None:
    """Say that ``node`` serves ``queues`` with ``processes`` processes (sync client)."""
    now = time.time()
    pipe = client.pipeline(transaction=False)
    for queue in queues:
        pipe.zadd(workers_key(queue), {_member(node, processes): now})
        pipe.expire(workers_key(queue), int(HEARTBEAT_TTL_S * 10))
    pipe.execute()


def leave(client: Any, node: str, queues: list[str], processes: int) -> None:
    pipe = client.pipeline(transaction=False)
    for queue in queues:
        pipe.zrem(workers_key(queue), _member(node, processes))
    pipe.execute()


def live_nodes(client: Any, queue: str) -> list[str]:
    """Node names with a fresh heartbeat on ``queue`` (sync client)."""
    members = client.zrangebyscore(workers_key(queue), time.time() - HEARTBEAT_TTL_S, "+inf")
    return [m.decode().rpartition("|")[0] for m in members]


@dataclass(frozen=True)
class QueueStats:
    name: str
    queued: int
    oldest_age_s: float | None
    workers: int
    processes: int


async def read_queue_stats(client: Any, queues: list[str], retention_s: int) -> list[QueueStats]:
    """One pipelined round trip for every queue. Drops waiting entries whose record has
    expired and heartbeats that went stale, so the numbers describe the present."""
    now = time.time()
    async with client.pipeline(transaction=False) as pipe:
        for queue in queues:
            pipe.zremrangebyscore(queued_key(queue), "-inf", now - retention_s)
            pipe.zcard(queued_key(queue))
            pipe.zrange(queued_key(queue), 0, 0, withscores=True)
            pipe.zremrangebyscore(workers_key(queue), "-inf", now - HEARTBEAT_TTL_S)
            pipe.zrange(workers_key(queue), 0, -1)
        replies = await pipe.execute()
    stats = []
    for i, queue in enumerate(queues):
        _, queued, oldest, _, members = replies[i * 5 : i * 5 + 5]
        age = max(0.0, now - float(oldest[0][1])) if oldest else None
        processes = sum(int(m.decode().rpartition("|")[2] or 0) for m in members)
        stats.append(QueueStats(queue, int(queued), age, len(members), processes))
    return stats


async def queue_position(client: Any, queue: str, job_id: str) -> int | None:
    """Jobs on ``queue`` accepted before ``job_id`` that have not started (0: next in line);
    None when the job is not waiting."""
    rank = await client.zrank(queued_key(queue), job_id)
    return None if rank is None else int(rank)
