"""``/v1/queues``: backlog and capacity of every queue."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request

from asyncml.api.catalog import TaskCatalog
from asyncml.api.deps import Authenticated
from asyncml.metrics.queues import read_queue_stats
from asyncml.queue.publisher import Publisher
from asyncml.schemas import QueueInfo
from asyncml.settings import Settings
from asyncml.store import AsyncJobStore

router = APIRouter(prefix="/v1/queues", tags=["operations"], dependencies=[Authenticated])


@router.get("")
async def list_queues(request: Request) -> list[QueueInfo]:
    """Each queue's depth in the broker, jobs waiting and the oldest one's age (from the job
    store), and the workers serving it."""
    store: AsyncJobStore = request.app.state.store
    broker: Publisher = request.app.state.broker
    settings: Settings = request.app.state.settings
    catalog: TaskCatalog = request.app.state.catalog
    await catalog.refresh()  # what the registry says now, not up to a second ago
    queues = catalog.queues()
    depths = await asyncio.gather(*map(broker.depth, queues))
    stats = await read_queue_stats(store.redis, queues, settings.job_retention_s)
    return [
        QueueInfo(
            name=s.name,
            tasks=catalog.tasks_on(s.name),
            depth=depth,
            waiting=s.queued,
            oldest_waiting_age_s=s.oldest_age_s,
            workers=s.workers,
            worker_processes=s.processes,
        )
        for s, depth in zip(stats, depths, strict=True)
    ]
