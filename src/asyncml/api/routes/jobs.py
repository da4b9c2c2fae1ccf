"""``/v1/jobs``: submit, read (optionally waiting), cancel and list jobs."""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, Response

from asyncml.api.deps import AppSettings, Catalog, Jobs, Owner
from asyncml.api.inputs import check_references
from asyncml.api.jobs import BadRequestError
from asyncml.api.limits import check_input_size
from asyncml.api.webhooks import webhook_target, with_deliveries
from asyncml.scheduling import JobOptions
from asyncml.schemas import Job, JobCreate, JobLinks, JobPage, JobStatus, Problem
from asyncml.settings import Settings
from asyncml.store.registry import TaskManifest

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])

ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"model": Problem, "description": "No such job"},
    409: {"model": Problem, "description": "Conflicting request"},
    422: {"model": Problem, "description": "Invalid request; the message names the field"},
    503: {"model": Problem, "description": "Broker or store unreachable; retry"},
}


def operation_ref(path: str, method: str) -> str:
    """An OpenAPI ``operationRef``: a JSON pointer into ``paths``, braces percent-encoded."""
    pointer = path.replace("~", "~0").replace("/", "~1").replace("{", "%7B").replace("}", "%7D")
    return f"#/paths/{pointer}/{method}"


# OpenAPI links from a created job to what can be done with its id: they document the flow
# for generated clients and let a stateful fuzzer (schemathesis) chain the calls.
_BY_ID = {"job_id": "$response.body#/id"}
CREATED_LINKS: dict[str, Any] = {
    name: {"operationRef": operation_ref(path, method), "parameters": _BY_ID}
    for name, path, method in [
        ("ReadJob", "/v1/jobs/{job_id}", "get"),
        ("CancelJob", "/v1/jobs/{job_id}/cancel", "post"),
        ("StreamJobEvents", "/v1/jobs/{job_id}/events", "get"),
        ("RedeliverWebhook", "/v1/jobs/{job_id}/webhook/redeliver", "post"),
    ]
}


def _linked(request: Request, job: Job) -> Job:
    base = str(request.base_url).rstrip("/")
    url = f"{base}/v1/jobs/{job.id}"
    links = JobLinks(self=url, cancel=f"{url}/cancel", events=f"{url}/events")
    return job.model_copy(update={"links": links})


@router.post(
    "",
    status_code=202,
    responses={**ERRORS, 202: {"description": "The job, queued", "links": CREATED_LINKS}},
)
async def create_job(
    body: JobCreate,
    request: Request,
    response: Response,
    jobs: Jobs,
    catalog: Catalog,
    owner: Owner,
    settings: AppSettings,
    idempotency_key: Annotated[
        str | None,
        Header(
            max_length=255,
            description="same key and body return the same job; another body is a 409",
        ),
    ] = None,
) -> Job:
    """Queue a job. Answers 202 with the job at once; collect the result later."""
    await check_references(body.input, owner, request.app.state.files, settings.data_uri_max_bytes)
    check_input_size(body.input, settings.max_input_bytes)
    spec = await catalog.resolve(body.task)
    catalog.validator(spec).check(body.input)
    payload = body.input
    webhook = None
    if body.webhook is not None:
        webhook = webhook_target("webhook", body.webhook, body.webhook_events, "v1", settings)
    options, limits = _scheduling(body, spec, settings)
    asked = body.model_dump(
        include={"priority", "deadline", "start_within_s", "timeout_s"},
        exclude_defaults=True,
        mode="json",
    )
    job, replayed = await jobs.submit(
        spec, payload, owner, idempotency_key, webhook, options, limits, asked
    )
    response.headers["Location"] = f"/v1/jobs/{job.id}"
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return _linked(request, job)


def _scheduling(
    body: JobCreate, spec: TaskManifest, settings: Settings
) -> tuple[JobOptions, tuple[float, float] | None]:
    """The job's options and its own (soft, hard) time limits; 422 for a ``timeout_s``
    above what its task allows."""
    deadline = None
    if body.deadline is not None:
        deadline = body.deadline.timestamp()
    elif body.start_within_s is not None:
        deadline = time.time() + body.start_within_s
    options = JobOptions(priority=body.priority, deadline=deadline, timeout_s=body.timeout_s)
    if body.timeout_s is None:
        return options, None
    soft = spec.limits.get("soft_time_limit_s") or settings.task_soft_time_limit_s
    hard = spec.limits.get("time_limit_s") or settings.task_time_limit_s
    if body.timeout_s > soft:
        raise BadRequestError(
            f"timeout_s: {body.timeout_s:g} is above the {soft}s limit of task "
            f"{spec.key}; at most {soft}"
        )
    return options, options.time_limits(soft, hard)


@router.get("", responses=ERRORS)
async def list_jobs(
    jobs: Jobs,
    owner: Owner,
    status: JobStatus | None = None,
    task: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=40)] = None,
) -> JobPage:
    """Your jobs, newest first, optionally filtered by status and task."""
    page, following = await jobs.list(owner, limit=limit, cursor=cursor, status=status, task=task)
    return JobPage(items=page, next_cursor=following)


@router.get("/{job_id}", responses=ERRORS)
async def read_job(
    job_id: str,
    request: Request,
    jobs: Jobs,
    owner: Owner,
    settings: AppSettings,
    wait: Annotated[
        float,
        Query(ge=0, description="seconds to wait for the job to finish before answering"),
    ] = 0,
) -> Job:
    """The job's state, result or error. With ``?wait=N`` the answer comes as soon as the
    job finishes, or after N seconds (at most ``ASYNCML_LONG_POLL_MAX_S``)."""
    if wait > 0:
        job = await jobs.wait(job_id, owner, min(wait, settings.long_poll_max_s))
    else:
        job = await jobs.get(job_id, owner)
    return _linked(request, await with_deliveries(jobs.store, job))


@router.post("/{job_id}/cancel", responses=ERRORS)
async def cancel_job(job_id: str, request: Request, jobs: Jobs, owner: Owner) -> Job:
    """Cancel a queued job (it never runs) or a running one (it is stopped).
    A finished job answers 409."""
    return _linked(request, await jobs.cancel(job_id, owner))
