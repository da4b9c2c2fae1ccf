"""``GET /metrics``: Prometheus text for this API process and the whole deployment."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from fastapi import APIRouter, Request, Response
from prometheus_client.core import Metric
from redis.exceptions import RedisError

from asyncml.api.catalog import TaskCatalog
from asyncml.metrics.exposition import (
    queue_families,
    render,
    status_families,
    store_families,
)
from asyncml.metrics.queues import QueueStats, read_queue_stats
from asyncml.queue.publisher import Publisher
from asyncml.settings import Settings
from asyncml.store import AsyncJobStore
from asyncml.store.keys import METRICS_KEY

router = APIRouter(tags=["operations"])
log = logging.getLogger(__name__)
SCRAPE_STORE_TIMEOUT_S = 3.0
# The classic text format every Prometheus (and most agents) parses.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE: {}}, "description": "Prometheus text"}},
)
async def read_metrics(request: Request) -> Response:
    """Prometheus metrics. Job, queue and worker series describe the whole deployment and
    are the same on every API replica; HTTP and process series describe this process."""
    store: AsyncJobStore = request.app.state.store
    broker: Publisher = request.app.state.broker
    settings: Settings = request.app.state.settings
    catalog: TaskCatalog = request.app.state.catalog
    # What the registry says now; a store that does not answer is reported below.
    with contextlib.suppress(RedisError, OSError, TimeoutError):
        await asyncio.wait_for(catalog.refresh(), SCRAPE_STORE_TIMEOUT_S)
    queues = catalog.queues()
    depths = dict(zip(queues, await asyncio.gather(*map(broker.depth, queues)), strict=True))
    families: list[Metric] = []
    stats: list[QueueStats] = []
    store_up = True
    try:
        async with asyncio.timeout(SCRAPE_STORE_TIMEOUT_S):
            raw = await store.redis.hgetall(METRICS_KEY)
            stats = await read_queue_stats(store.redis, queues, settings.job_retention_s)
        families += store_families(raw, sorted({m.name for m in catalog.manifests.values()}))
    except (RedisError, OSError, TimeoutError) as exc:
        log.warning("metrics: the job store did not answer (%s)", exc)
        store_up = False
    families += queue_families(stats, depths)
    families += status_families(store_up)
    body = render(request.app.state.metrics_registry, families)
    return Response(body, media_type=CONTENT_TYPE)
