"""``/v1/tasks``: what can be run, with input/output schemas and queue depth."""

from __future__ import annotations

from fastapi import APIRouter, Request

from asyncml.api.broker import Broker
from asyncml.catalog import TASKS
from asyncml.schemas import TaskInfo

router = APIRouter(prefix="/v1/tasks", tags=["tasks"])


@router.get("")
async def list_tasks(request: Request) -> list[TaskInfo]:
    broker: Broker = request.app.state.broker
    return [
        TaskInfo(
            name=spec.name,
            queue=spec.queue,
            description=spec.description,
            input_schema=spec.input_schema(),
            output_schema=spec.output_schema(),
            queue_depth=await broker.depth(spec.queue),
        )
        for spec in TASKS.values()
    ]
