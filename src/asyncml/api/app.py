"""The FastAPI application factory."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

import asyncml
from asyncml.api import fastlane, observe, openapi, problems, ui
from asyncml.api.broker import Broker
from asyncml.api.catalog import TaskCatalog
from asyncml.api.deps import Authenticated
from asyncml.api.jobs import JobService
from asyncml.api.limits import LimitsMiddleware, RateLimiter
from asyncml.api.notify import Notifier
from asyncml.api.routes import compat, docs, events, files, health, jobs, tasks, webhooks
from asyncml.settings import Settings
from asyncml.store import AsyncJobStore, deadlines
from asyncml.store.files import AsyncFileStore
from asyncml.worker.app import create_celery

log = logging.getLogger(__name__)

DESCRIPTION = """
Send a job, get its id at once, and collect the result by polling, long-polling
(`GET /v1/jobs/{id}?wait=30`), Server-Sent Events (`GET /v1/jobs/{id}/events`), a signed
webhook (`"webhook": "https://…"`) or the original contract's `GET /task/{id}`.
"""


async def _sweep_deadlines(store: AsyncJobStore) -> None:
    """Expire queued jobs past their start deadline, even while no worker runs (one
    sweeper a second across the deployment: the API processes and the workers take turns)."""
    node = f"api-{socket.gethostname()}-{id(store)}"
    while True:
        await asyncio.sleep(deadlines.SWEEP_EVERY_S)
        try:
            took = await store.redis.set(**deadlines.turn_args(node))
            if took and (ended := await deadlines.asweep(store.redis)):
                log.info("deadline sweeper: %d queued jobs expired", ended)
        except Exception as exc:  # the store is down: try again next time
            log.warning("deadline sweeper: %s", exc)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        connections, wait_s = settings.store_max_connections, settings.store_pool_wait_s
        store = AsyncJobStore(
            settings.effective_store_url,
            settings.job_retention_s,
            max_connections=connections,
            pool_wait_s=wait_s,
        )
        notifier = Notifier(store.redis)
        broker = Broker(
            create_celery(settings),
            settings.effective_store_url,
            max_connections=connections,
            pool_wait_s=wait_s,
        )
        catalog = TaskCatalog(store.redis)
        app.state.settings = settings
        app.state.catalog = catalog
        app.state.store = store
        app.state.files = AsyncFileStore(store.redis, settings.job_retention_s)
        app.state.broker = broker
        app.state.jobs = JobService(store, broker, notifier, settings.max_queued)
        await notifier.start()
        await catalog.start()
        sweeper = asyncio.create_task(_sweep_deadlines(store))
        try:
            yield
        finally:
            sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sweeper
            await catalog.stop()
            await notifier.stop()
            await broker.close()
            await store.close()

    app = FastAPI(
        title="asyncml",
        version=asyncml.__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        # /docs is served from the package by routes/docs.py: FastAPI's own loads its
        # assets from a CDN (blank offline); ReDoc would too.
        docs_url=None,
        redoc_url=None,
    )
    app.state.keys = settings.key_ring
    rate = settings.rate
    app.state.rate_limiter = RateLimiter(*rate) if rate else None
    problems.install(app)
    app.include_router(jobs.router)
    app.include_router(files.router)
    app.include_router(events.router)
    app.include_router(webhooks.router)
    app.include_router(tasks.router, dependencies=[Authenticated])
    app.include_router(compat.router)
    app.include_router(health.router)
    if settings.console:
        ui.install(app)
    docs.install(app)
    app.add_middleware(
        LimitsMiddleware,
        max_body_bytes=settings.max_body_bytes,
        max_json_depth=settings.max_json_depth,
        max_upload_bytes=settings.upload_max_bytes,
    )
    instruments = observe.install(app)
    fastlane.install(app, instruments, settings.max_body_bytes, settings.max_json_depth)
    openapi.install(app)
    return app
