"""Liveness and readiness."""

from __future__ import annotations

import asyncio
import contextlib

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from redis.exceptions import RedisError

from asyncml.queue.publisher import Publisher
from asyncml.store import AsyncJobStore

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get(
    "/readyz",
    responses={503: {"description": "The broker or the job store is unreachable (named)"}},
)
async def readyz(request: Request) -> JSONResponse:
    """Broker and job store reachable: 200, else 503 naming what is down."""
    store: AsyncJobStore = request.app.state.store
    broker: Publisher = request.app.state.broker
    store_ok = False
    with contextlib.suppress(RedisError, OSError, TimeoutError):
        store_ok = await asyncio.wait_for(store.ping(), 3)
    broker_ok = await broker.ping()
    body = {
        "status": "ok" if store_ok and broker_ok else "unavailable",
        "store": "ok" if store_ok else "unreachable",
        "broker": "ok" if broker_ok else "unreachable",
    }
    return JSONResponse(body, status_code=200 if store_ok and broker_ok else 503)
