"""The original contract's two hottest requests, answered without FastAPI's per-request work:
a thin front of the same functions as its routes (``api/routes/compat.py``).

A client of the original contract submits with ``POST /audio/length`` and then polls
``GET /task/{id}``, often several times a job. Through FastAPI each of those requests
spent more CPU on the middleware chain, routing, dependency solving and response-model
checks than on its one store round trip (``bench/api_cost.py``; docs/performance.md).
``FastLane`` is the outermost of the app's own middlewares and answers those two requests
itself, doing what the layers it skips would have done for them:

- request metrics and the job id on log lines, as ``ObserveMiddleware`` records them;
- the caller is found by the same function as the ``Owner`` dependency;
- the job is submitted and read by the routes' own functions (``compat.submit_audio``,
  ``compat.read``);
- an error is answered by ``problems.answer``, as the app's exception handlers answer it
  (one implementation of every error answer: 401, 404, 422, 429, 503...);
- a submit that is anything but a valid JSON request (a body too large or nested too deep
  for ``LimitsMiddleware``, bad JSON, a failing field, another content type) is handed,
  body and all, to the rest of the stack before anything is done with it, so every
  validation message has one implementation.

The FastAPI routes of the same paths stay: they are the OpenAPI contract and the fallback.
"""

from __future__ import annotations

import re
import time

import orjson
from fastapi import FastAPI
from pydantic import ValidationError
from starlette.types import ASGIApp, Receive, Scope, Send

from asyncml import logs
from asyncml.api import problems
from asyncml.api.deps import bearer_token, caller
from asyncml.api.limits import BodyTooLargeError, answer_too_large, json_depth, read_body, replay
from asyncml.api.observe import StatusRecorder
from asyncml.api.routes import compat
from asyncml.metrics.exposition import RequestMetrics
from asyncml.schemas import LegacyAudioRequest

_TASK = re.compile(r"^/task/([^/]+)$")
_JSON = (b"content-type", b"application/json")
READ_TEMPLATE, CREATE_TEMPLATE = "/task/{task_id}", "/audio/length"


class _Handoff(Exception):
    """The request is not for the fast lane after all: the rest of the stack answers it,
    with the body read so far (None: nothing read yet)."""

    def __init__(self, body: bytes | None) -> None:
        super().__init__()
        self.body = body


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value)
    return None


async def _answer(send: Send, status: int, body: bytes) -> None:
    headers = [_JSON, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class FastLane:
    def __init__(
        self, app: ASGIApp, instruments: RequestMetrics, max_body_bytes: int, max_json_depth: int
    ) -> None:
        self.app = app
        self.instruments = instruments
        self.max_body = max_body_bytes
        self.max_depth = max_json_depth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not scope.get("root_path"):
            method, path = scope["method"], scope["path"]
            if method in ("GET", "HEAD") and (match := _TASK.match(path)):
                await self._observed(scope, receive, send, READ_TEMPLATE, match.group(1))
                return
            if method == "POST" and path == CREATE_TEMPLATE:
                await self._observed(scope, receive, send, CREATE_TEMPLATE, None)
                return
        await self.app(scope, receive, send)

    async def _observed(
        self, scope: Scope, receive: Receive, send: Send, template: str, job_id: str | None
    ) -> None:
        logs.bind_job(job_id)
        start = time.perf_counter()
        counted, handed = StatusRecorder(send), False
        try:
            if job_id is not None:
                await self._read_task(scope, receive, counted, job_id)
            else:
                await self._create_audio_length(scope, receive, counted)
        except _Handoff as handoff:
            # Not ours after all: everything below answers it, and records it.
            handed = True
            rest = receive if handoff.body is None else replay(handoff.body, receive)
            await self.app(scope, rest, send)
        except BodyTooLargeError:  # more than it declared: as LimitsMiddleware answers it
            await answer_too_large(counted, self.max_body)
        except Exception as exc:
            response = problems.answer(exc)
            if response is None:  # a bug: up to ServerErrorMiddleware (500), as it would
                raise
            await response(scope, receive, counted)
        finally:
            if not handed:
                seconds = time.perf_counter() - start
                self.instruments.observe(scope["method"], template, counted.status, seconds)

    async def _read_task(self, scope: Scope, receive: Receive, send: Send, job_id: str) -> None:
        state = scope["app"].state
        owner = caller(state, bearer_token(_header(scope, b"authorization")))
        status, result = await compat.read(state.jobs, job_id, owner)
        await _answer(send, status, orjson.dumps(result.model_dump(mode="json")))

    async def _create_audio_length(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = await self._plain_body(scope, receive)
        try:
            request = LegacyAudioRequest.model_validate_json(body)
        except ValidationError:
            raise _Handoff(body) from None
        state = scope["app"].state
        owner = caller(state, bearer_token(_header(scope, b"authorization")))
        created = await compat.submit_audio(
            "audio.length", request, state.jobs, state.catalog, owner, state.settings
        )
        await _answer(send, 201, orjson.dumps(created.model_dump(mode="json")))

    async def _plain_body(self, scope: Scope, receive: Receive) -> bytes:
        """The body of a JSON request of declared length within the limits; otherwise hand
        the request on (``LimitsMiddleware`` and FastAPI answer what is wrong with it)."""
        media = (_header(scope, b"content-type") or b"").split(b";", 1)[0].strip().lower()
        length = _header(scope, b"content-length") or b""
        if media != b"application/json" or not length.isdigit() or int(length) > self.max_body:
            raise _Handoff(None)
        # Declared within the cap, and uvicorn delivers no more than it declares.
        body = await read_body(receive, self.max_body)
        if json_depth(body) > self.max_depth:
            raise _Handoff(body)
        return body


def install(app: FastAPI, instruments: RequestMetrics, max_body: int, max_depth: int) -> None:
    """Make the fast lane the outermost of the app's middlewares (add it last)."""
    app.add_middleware(
        FastLane, instruments=instruments, max_body_bytes=max_body, max_json_depth=max_depth
    )
