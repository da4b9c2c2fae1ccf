"""``/v1/tasks``: what can be run, from the task registry: versions, schemas, queue, workers
online, setup errors and queue depth."""

from __future__ import annotations

import asyncio
import datetime as dt

from fastapi import APIRouter, Request

from asyncml.api.catalog import TaskCatalog
from asyncml.api.deps import Catalog
from asyncml.errors import JobNotFoundError
from asyncml.queue.publisher import Publisher
from asyncml.schemas import SetupError, TaskInfo
from asyncml.store.registry import TaskManifest, read_presence

router = APIRouter(prefix="/v1/tasks", tags=["tasks"])


async def _describe(
    request: Request, catalog: TaskCatalog, shown: list[TaskManifest]
) -> list[TaskInfo]:
    broker: Publisher = request.app.state.broker
    presence = await read_presence(request.app.state.store.redis, [m.key for m in shown])
    queues = sorted({m.queue for m in shown})
    depths = dict(zip(queues, await asyncio.gather(*map(broker.depth, queues)), strict=True))
    return [
        TaskInfo(
            name=m.name,
            version=m.version,
            versions=[v.version for v in catalog.versions(m.name)],
            queue=m.queue,
            description=m.description,
            input_schema=m.input_schema,
            output_schema=m.output_schema,
            limits=m.limits,
            schema_hash=m.schema_hash,
            workers=presence[m.key].workers,
            setup_errors=[
                SetupError(
                    worker=e["worker"],
                    error=e["error"],
                    at=dt.datetime.fromtimestamp(e["at"], tz=dt.UTC),
                )
                for e in presence[m.key].setup_errors
            ],
            queue_depth=depths[m.queue],
        )
        for m in shown
    ]


@router.get("")
async def list_tasks(request: Request, catalog: Catalog) -> list[TaskInfo]:
    """Every task's newest version (see ``/v1/tasks/{name}`` for each version)."""
    await catalog.refresh()  # what the registry says now, not up to a second ago
    return await _describe(request, catalog, catalog.newest())


@router.get("/{name}", responses={404: {"description": "No such task"}})
async def read_task(request: Request, name: str, catalog: Catalog) -> list[TaskInfo]:
    """Every registered version of one task, newest first (``name@version``: that one)."""
    await catalog.refresh()
    if "@" in name:
        found = catalog.lookup(name)
        shown = [found] if found is not None else []
    else:
        shown = catalog.versions(name)
    if not shown:
        raise JobNotFoundError(f"no task {name!r} in the registry")
    return await _describe(request, catalog, shown)
