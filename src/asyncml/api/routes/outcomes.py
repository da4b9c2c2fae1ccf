"""``/v1/outcomes``: jobs submitted and finished per task, for the console's queues page."""

from __future__ import annotations

from fastapi import APIRouter, Request

from asyncml.api.catalog import TaskCatalog
from asyncml.api.deps import Authenticated
from asyncml.metrics.outcomes import read_outcomes
from asyncml.schemas import TaskOutcomes
from asyncml.store import AsyncJobStore

router = APIRouter(prefix="/v1/outcomes", tags=["operations"], dependencies=[Authenticated])


@router.get("")
async def list_outcomes(request: Request) -> list[TaskOutcomes]:
    """Jobs accepted, succeeded, failed, canceled and expired per task since the job store
    began, for the whole deployment (every key's jobs): the counters ``/metrics`` exports.
    Rates come from two readings apart in time."""
    store: AsyncJobStore = request.app.state.store
    catalog: TaskCatalog = request.app.state.catalog
    names = {m.name for m in catalog.manifests.values()}
    return await read_outcomes(store.redis, names)
