"""The original contract's two hottest requests, answered without FastAPI's per-request work.

A client of the original contract submits with ``POST /audio/length`` and then polls
``GET /task/{id}``, often several times a job. Through FastAPI each of those requests
spends more CPU on dependency solving, parameter validation and response-model checks than
on its one store round trip (``bench/api_cost.py``; docs/performance.md). The routes here sit
in front of the FastAPI routes of the same paths and do the same thing directly:

- the caller is found by the same function as the ``Owner`` dependency (same 401 and 429);
- errors are raised, not answered, so the app's one set of exception handlers answers them;
- a submit whose body is anything but a plain valid request (callbacks, bad JSON, a field
  that fails validation, a content type that is not JSON) is routed again, body and all, past
  the fast routes to the FastAPI route, so every error message and every rarely used option
  has one implementation.

The FastAPI routes stay registered: they are the OpenAPI contract and the fallback.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import orjson
from fastapi import FastAPI
from pydantic import ValidationError
from starlette.routing import BaseRoute, Match, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from asyncml.api.deps import bearer_token, caller
from asyncml.api.jobs import JobService, resolve_task
from asyncml.api.limits import replay
from asyncml.events import legacy_result
from asyncml.schemas import LegacyAudioRequest

_JSON = (b"content-type", b"application/json")
_PASSED = "asyncml.fastlane.passed"  # set on a request the fast lane hands on


class _FastRoute(Route):
    """Matches like a Route, except requests already handed on; labels the request (for
    the request metrics) with its path template, as a FastAPI route does."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope.get(_PASSED):
            return Match.NONE, {}
        match, child = super().matches(scope)
        if match is not Match.NONE:
            child["route"] = self
        return match, child


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value)
    return None


async def _answer(send: Send, status: int, body: bytes) -> None:
    headers = [_JSON, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _is_json(content_type: bytes | None) -> bool:
    media = (content_type or b"").split(b";", 1)[0].strip().lower()
    return media == b"application/json"


class _Asgi:
    """An ASGI app around a coroutine function: Starlette wraps plain functions and methods
    as request/response endpoints, and these take the raw ASGI call."""

    def __init__(self, handler: Callable[[Scope, Receive, Send], Awaitable[None]]) -> None:
        self.handler = handler

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.handler(scope, receive, send)


class FastLane:
    """The two fast routes; ``router`` routes what they hand on."""

    def __init__(self, router: ASGIApp) -> None:
        self._router = router

    def routes(self) -> list[BaseRoute]:
        return [
            _FastRoute(
                "/task/{task_id}", _Asgi(self.read_task), methods=["GET"], include_in_schema=False
            ),
            _FastRoute(
                "/audio/length",
                _Asgi(self.create_audio_length),
                methods=["POST"],
                include_in_schema=False,
            ),
        ]

    async def read_task(self, scope: Scope, receive: Receive, send: Send) -> None:
        state = scope["app"].state
        owner = caller(state, bearer_token(_header(scope, b"authorization")))
        jobs: JobService = state.jobs
        job = await jobs.get(scope["path_params"]["task_id"], owner, position=False)
        body = orjson.dumps(legacy_result(job).model_dump(mode="json"))
        await _answer(send, 200 if job.status.is_terminal() else 202, body)

    async def create_audio_length(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = await _read_body(receive)
        request = None
        if _is_json(_header(scope, b"content-type")):
            try:
                request = LegacyAudioRequest.model_validate_json(body)
            except ValidationError:
                request = None
        if request is None or request.callback or request.callback_url is not None:
            scope[_PASSED] = True
            await self._router(scope, replay(body, receive), send)
            return
        state = scope["app"].state
        owner = caller(state, bearer_token(_header(scope, b"authorization")))
        jobs: JobService = state.jobs
        payload = {"url": str(request.audio_url)}
        job, _ = await jobs.submit(resolve_task("audio.length"), payload, owner)
        await _answer(send, 201, orjson.dumps({"id": job.id}))


def install(app: FastAPI) -> None:
    """Put the fast routes first, in front of the FastAPI routes of the same paths."""
    app.router.routes[:0] = FastLane(app.router).routes()
