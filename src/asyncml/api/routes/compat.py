"""The original proof of concept's contract, kept working for its clients.

``POST /audio/length``, ``POST /audio/gender`` and ``POST /euro/results`` answer 201
``{"id"}``; ``GET /task/{id}`` answers 202 while the job is unfinished (the original client
retries on 202), 200 when it is finished and 404 for an unknown id. ``callback: true`` logs
the finished result, as the original did; ``callback_url`` gets the finished job POSTed to it
in the shape ``GET /task/{id}`` shows, signed like every webhook (Standard Webhooks), retried.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from fastapi import APIRouter, Response
from pydantic import AnyHttpUrl

from asyncml.api.catalog import TaskCatalog
from asyncml.api.deps import AppSettings, Catalog, Jobs, Owner
from asyncml.api.job_service import JobService
from asyncml.api.routes.jobs import operation_ref
from asyncml.api.webhook_targets import webhook_target
from asyncml.schemas import (
    LegacyAudioRequest,
    LegacyCreated,
    LegacyEuroRequest,
    LegacyTaskResult,
    Problem,
)
from asyncml.settings import Settings
from asyncml.store.effects import WebhookTarget, legacy_result

router = APIRouter(tags=["original contract"])
log = logging.getLogger(__name__)
_callbacks: set[asyncio.Task[None]] = set()
CALLBACK_WAIT_S = 3600.0
# OpenAPI link from each submit route to GET /task/{id} (documents the flow; lets a stateful
# fuzzer chain the calls).
CREATED: dict[int | str, dict[str, Any]] = {
    201: {
        "description": "The job's id",
        "links": {
            "ReadTask": {
                "operationRef": operation_ref("/task/{task_id}", "get"),
                "parameters": {"task_id": "$response.body#/id"},
            }
        },
    },
    422: {"model": Problem},
}


async def _log_when_done(jobs: JobService, job_id: str, owner: str) -> None:
    job = await jobs.wait(job_id, owner, CALLBACK_WAIT_S)
    log.info("job %s: callback result %s", job_id, legacy_result(job).model_dump_json())


async def submit(
    jobs: JobService,
    catalog: TaskCatalog,
    owner: str,
    task: str,
    payload: dict[str, Any],
    callback: bool,
    callback_url: WebhookTarget | None = None,
) -> LegacyCreated:
    """Queue ``task`` for ``payload``; with ``callback``, log the result when it is done."""
    spec = await catalog.resolve(task)
    job, _ = await jobs.submit(spec, payload, owner, webhook=callback_url)
    if callback:
        waiter = asyncio.create_task(_log_when_done(jobs, job.id, owner))
        _callbacks.add(waiter)
        waiter.add_done_callback(_callbacks.discard)
    return LegacyCreated(id=job.id)


def _callback_target(url: AnyHttpUrl | None, settings: Settings) -> WebhookTarget | None:
    if url is None:
        return None
    return webhook_target("callback_url", url, ("completed",), "legacy", settings)


async def submit_audio(
    task: str,
    body: LegacyAudioRequest,
    jobs: JobService,
    catalog: TaskCatalog,
    owner: str,
    settings: Settings,
) -> LegacyCreated:
    """Queue an audio ``task`` (``audio.length``, ``audio.gender``) for ``audio_url``."""
    target = _callback_target(body.callback_url, settings)
    payload = {"url": str(body.audio_url)}
    return await submit(jobs, catalog, owner, task, payload, body.callback, target)


async def read(jobs: JobService, task_id: str, owner: str) -> tuple[int, LegacyTaskResult]:
    """The job in the original shape, and its status code: 202 unfinished, 200 finished."""
    job = await jobs.get(task_id, owner, position=False)  # the original shape has none
    return (200 if job.status.is_terminal() else 202), legacy_result(job)


@router.post("/audio/length", status_code=201, responses=CREATED)
async def create_audio_length(
    body: LegacyAudioRequest,
    jobs: Jobs,
    catalog: Catalog,
    owner: Owner,
    settings: AppSettings,
) -> LegacyCreated:
    """Queue an ``audio.length`` job for ``audio_url``."""
    return await submit_audio("audio.length", body, jobs, catalog, owner, settings)


@router.post("/audio/gender", status_code=201, responses=CREATED)
async def create_audio_gender(
    body: LegacyAudioRequest,
    jobs: Jobs,
    catalog: Catalog,
    owner: Owner,
    settings: AppSettings,
) -> LegacyCreated:
    """Queue an ``audio.gender`` job for ``audio_url``."""
    return await submit_audio("audio.gender", body, jobs, catalog, owner, settings)


@router.post("/euro/results", status_code=201, responses=CREATED)
async def create_euro_results(
    body: LegacyEuroRequest,
    jobs: Jobs,
    catalog: Catalog,
    owner: Owner,
    settings: AppSettings,
) -> LegacyCreated:
    """Queue a ``euro.results`` job for ``draw_date`` (DD-MM-YYYY or YYYY-MM-DD)."""
    draw = body.draw_date
    payload = {"draw_date": draw.isoformat() if hasattr(draw, "isoformat") else str(draw)}
    target = _callback_target(body.callback_url, settings)
    return await submit(jobs, catalog, owner, "euro.results", payload, body.callback, target)


@router.get(
    "/task/{task_id}",
    responses={202: {"model": LegacyTaskResult}, 404: {"model": Problem}},
)
async def read_task(task_id: str, response: Response, jobs: Jobs, owner: Owner) -> LegacyTaskResult:
    """The job in the original shape: 202 while unfinished, 200 when finished."""
    response.status_code, result = await read(jobs, task_id, owner)
    return result
