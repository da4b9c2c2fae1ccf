"""What the API records about itself: request metrics, and the job id on every log line.

One pure ASGI middleware (no response buffering, so long-polls and event streams pass
through untouched) times each request, counts it by route *template*
(``/v1/jobs/{job_id}``, not the id) and status, and binds the job id of requests about a job
to the logging context. ``install`` wires it into an app.
"""

from __future__ import annotations

import re
import time

from fastapi import FastAPI
from prometheus_client import CollectorRegistry, ProcessCollector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from asyncml import logs
from asyncml.metrics.exposition import RequestMetrics

_JOB_PATH = re.compile(r"^/(?:v1/jobs|task)/([0-9A-Za-z_-]{1,64})(?:/|$)")


class StatusRecorder:
    """A ``send`` that notes the status of the answer it passes on (500 until one starts)."""

    def __init__(self, send: Send) -> None:
        self._send = send
        self.status = 500

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
        await self._send(message)


class ObserveMiddleware:
    def __init__(self, app: ASGIApp, instruments: RequestMetrics) -> None:
        self.app = app
        self.instruments = instruments

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        match = _JOB_PATH.match(scope["path"])
        logs.bind_job(match.group(1) if match else None)
        start = time.perf_counter()
        recorder = StatusRecorder(send)
        try:
            await self.app(scope, receive, recorder)
        finally:
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            seconds = time.perf_counter() - start
            self.instruments.observe(scope["method"], route, recorder.status, seconds)


def install(app: FastAPI) -> RequestMetrics:
    """Request metrics in a registry of the app's own (``GET /metrics`` shows it); returns
    the instruments (the fast lane records into them too)."""
    registry = CollectorRegistry()
    ProcessCollector(registry=registry)
    app.state.metrics_registry = registry
    instruments = RequestMetrics(registry)
    app.add_middleware(ObserveMiddleware, instruments=instruments)
    return instruments
