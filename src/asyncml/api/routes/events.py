"""``GET /v1/jobs/{id}/events``: the job's state changes as Server-Sent Events.

Each event is ``id: <event log id>``, ``event: queued|started|progress|succeeded|failed|
canceled`` and ``data: <the job as it was then>`` (a ``progress`` event carries the job's
``progress``); the stream ends after a terminal state. A client
that reconnects with ``Last-Event-ID`` gets every event after that one, from the job's event
log in the store. The stream waits on store notifications, not by polling, and sends a
comment every ``ASYNCML_SSE_HEARTBEAT_S`` so that proxies keep the connection open.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Header, Request, Response
from fastapi.responses import StreamingResponse

from asyncml.api.deps import AppSettings, Jobs, Owner
from asyncml.api.jobs import JobService
from asyncml.api.routes.jobs import ERRORS
from asyncml.api.routes.jobs import _linked as linked
from asyncml.errors import BadHeaderError
from asyncml.events import event_log_key, event_name, event_view
from asyncml.schemas import Job, Problem

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])

_EVENT_ID = re.compile(r"^(\d{1,20})-(\d{1,20})$")
# A stream id is two unsigned 64-bit numbers; the largest one can have no successor.
_ID_MAX = 2**64 - 1
# Without the notification stream (store reconnecting), look again this often.
_FALLBACK_S = 2.0


def _resume_point(last_event_id: str) -> str:
    """The id to resume after, checked here: the store refuses an id past 64 bits (or
    past the last possible one), and that refusal is not the client's answer."""
    match = _EVENT_ID.match(last_event_id.strip())
    parts = (int(match[1]), int(match[2])) if match else (_ID_MAX, _ID_MAX)
    if max(parts) > _ID_MAX or parts == (_ID_MAX, _ID_MAX):
        raise BadHeaderError(
            "Last-Event-ID: not an event id sent by this stream; reconnect without it to "
            "get every event from the start"
        )
    return f"{parts[0]}-{parts[1]}"


def _frame(entry_id: str, event: str, job: Job) -> bytes:
    data = job.model_dump_json(exclude={"deliveries"})
    return f"id: {entry_id}\nevent: {event}\ndata: {data}\n\n".encode()


async def _events(
    request: Request, jobs: JobService, job_id: str, owner: str, after: str, heartbeat: float
) -> AsyncIterator[bytes]:
    redis = jobs.store.redis
    key = event_log_key(job_id)
    # Tell EventSource clients to reconnect quickly if the connection drops.
    yield b"retry: 1000\n\n"
    with jobs.notifier.watch(job_id) as changed:
        while True:
            changed.clear()
            entries: Any = await redis.xrange(key, min=after, max="+")
            if entries:
                stored = await jobs.store.get(job_id)
                if stored is None:
                    return  # expired meanwhile
                for raw_id, fields in entries:
                    entry_id = raw_id.decode()
                    view = linked(request, event_view(stored.job, fields))
                    yield _frame(entry_id, event_name(fields), view)
                    after = f"({entry_id}"
                    if view.status.is_terminal():
                        return
            elif not await redis.exists(key):
                # A job recorded before event logs existed, or one that has just expired.
                with contextlib.suppress(Exception):
                    job = await jobs.get(job_id, owner)
                    yield f"event: {job.status.value}\ndata: {job.model_dump_json()}\n\n".encode()
                return
            step = heartbeat if jobs.notifier.connected else min(heartbeat, _FALLBACK_S)
            try:
                await asyncio.wait_for(changed.wait(), step)
            except TimeoutError:
                yield b": keep-alive\n\n"


@router.get(
    "/{job_id}/events",
    responses={
        **ERRORS,
        400: {"model": Problem, "description": "Last-Event-ID is not an id this stream sent"},
        200: {"content": {"text/event-stream": {}}, "description": "the job's events"},
        204: {"description": "nothing after Last-Event-ID: the job has finished"},
    },
    response_class=StreamingResponse,
)
async def stream_job_events(
    job_id: str,
    request: Request,
    jobs: Jobs,
    owner: Owner,
    settings: AppSettings,
    last_event_id: Annotated[
        str | None, Header(description="resume after this event (sent by EventSource)")
    ] = None,
) -> Response:
    """Server-Sent Events of the job's state changes, ending at a terminal state."""
    job = await jobs.get(job_id, owner)
    after = "-"
    if last_event_id:
        after = f"({_resume_point(last_event_id)}"
        # Finished, and nothing left to send: 204 tells EventSource to stop reconnecting.
        if job.status.is_terminal():
            rest = await jobs.store.redis.xrange(event_log_key(job_id), min=after, max="+", count=1)
            if not rest:
                return Response(status_code=204)
    stream = _events(request, jobs, job_id, owner, after, settings.sse_heartbeat_s)
    return StreamingResponse(
        stream,
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
