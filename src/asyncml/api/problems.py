"""Errors become HTTP answers here, and only here: ``{"error": {"code", "message"}}``."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from redis.exceptions import ConnectionError as StoreConnectionError
from redis.exceptions import ReadOnlyError, RedisError, ResponseError
from redis.exceptions import TimeoutError as StoreTimeoutError
from starlette.exceptions import HTTPException
from starlette.routing import BaseRoute, Match

from asyncml.api.catalog import UnknownTaskError
from asyncml.api.jobs import BadRequestError
from asyncml.api.limits import RateLimitedError
from asyncml.errors import (
    BadHeaderError,
    ConflictError,
    JobNotFoundError,
    QueueFullError,
    ServiceUnavailableError,
    UnauthorizedError,
)
from asyncml.store.connections import PoolExhaustedError
from asyncml.store.files import EmptyUploadError, UploadTooLargeError

log = logging.getLogger(__name__)
QUEUE_FULL_RETRY_S = 10


def problem(status: int, code: str, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}, **extra}, status_code=status)


def _location(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] == "body":
        parts = parts[1:]
    return ".".join(parts) or "body"


def describe(errors: list[Any]) -> str:
    first = errors[0]
    if first.get("type") == "json_invalid":
        reason = first.get("ctx", {}).get("error", "parse error")
        return f"the request body is not valid JSON ({reason})"
    where = _location(tuple(first.get("loc", ())))
    message = f"{where}: {first.get('msg', 'invalid value')}"
    if len(errors) > 1:
        message += f" (and {len(errors) - 1} more problem(s))"
    return message


# Errors answered with their own message and a fixed status and code.
_PLAIN: dict[type[Exception], tuple[int, str]] = {
    UnknownTaskError: (422, "unknown_task"),
    BadRequestError: (422, "invalid_request"),
    JobNotFoundError: (404, "not_found"),
    BadHeaderError: (400, "bad_request"),
    ConflictError: (409, "conflict"),
    UploadTooLargeError: (413, "too_large"),
    EmptyUploadError: (422, "invalid_request"),
}


def _plain(status: int, code: str) -> Callable[[Request, Exception], Awaitable[JSONResponse]]:
    async def handler(_: Request, exc: Exception) -> JSONResponse:
        return problem(status, code, str(exc))

    return handler


def install(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = list(exc.errors())
        detail = [{k: v for k, v in e.items() if k in {"loc", "msg", "type"}} for e in errors]
        return problem(422, "invalid_request", describe(errors), detail=detail)

    for exc_type, (status, code) in _PLAIN.items():
        app.add_exception_handler(exc_type, _plain(status, code))

    @app.exception_handler(ServiceUnavailableError)
    async def unavailable(_: Request, exc: ServiceUnavailableError) -> JSONResponse:
        return _retry(str(exc))

    @app.exception_handler(UnauthorizedError)
    async def unauthorized(_: Request, exc: UnauthorizedError) -> JSONResponse:
        response = problem(401, "unauthorized", str(exc))
        response.headers["WWW-Authenticate"] = 'Bearer realm="asyncml"'
        return response

    @app.exception_handler(RateLimitedError)
    async def rate_limited(_: Request, exc: RateLimitedError) -> JSONResponse:
        response = problem(429, "rate_limited", str(exc))
        response.headers["Retry-After"] = str(exc.retry_after)
        return response

    @app.exception_handler(QueueFullError)
    async def queue_full(_: Request, exc: QueueFullError) -> JSONResponse:
        response = problem(503, "queue_full", str(exc))
        response.headers["Retry-After"] = str(QUEUE_FULL_RETRY_S)
        return response

    @app.exception_handler(RedisError)
    async def store_error(_: Request, exc: RedisError) -> JSONResponse:
        return store_problem(exc)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        if exc.status_code == 400 and isinstance(exc.__cause__, ValueError):
            # FastAPI's 400 for a body its JSON parser raised on other than JSONDecodeError:
            # not even text, or an integer past Python's 4300 digits. Malformed JSON like
            # any other, so the documented 422.
            reason = (
                "it is not UTF-8 text"
                if isinstance(exc.__cause__, UnicodeDecodeError)
                else "a number has more than 4300 digits"
            )
            return problem(422, "invalid_request", f"the request body is not valid JSON ({reason})")
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        response = problem(exc.status_code, code, str(exc.detail))
        response.headers.update(exc.headers or {})
        if exc.status_code == 405:
            # Starlette names only the first route of the path; Allow must list all of them.
            response.headers["Allow"] = ", ".join(_allowed_methods(request))
        return response


_METHODS = ("DELETE", "GET", "HEAD", "PATCH", "POST", "PUT")


def _allowed_methods(request: Request) -> list[str]:
    """The methods some route fully matches at this path (routes only answer ``matches``)."""
    routes: list[BaseRoute] = request.app.router.routes
    return [
        method
        for method in _METHODS
        if any(r.matches({**request.scope, "method": method})[0] == Match.FULL for r in routes)
    ]


def _retry(message: str) -> JSONResponse:
    response = problem(503, "unavailable", message)
    response.headers["Retry-After"] = "2"
    return response


# Error replies that mean the store cannot serve right now (a replica being promoted, a
# full memory, a script running too long), not that the request was wrong.
_UNAVAILABLE_REPLIES = ("OOM", "MASTERDOWN", "TRYAGAIN", "BUSY", "NOREPLICAS", "CLUSTERDOWN")


def store_problem(exc: RedisError) -> JSONResponse:
    """A store error as an answer: 503 only when the store is out of reach or cannot serve
    for now (busy pool, outage, failover); anything else is a fault of ours (500), never
    reported as an outage."""
    if isinstance(exc, PoolExhaustedError):
        log.warning("job store: %s", exc)
        return _retry("the API is busy: no job store connection came free in time; retry shortly")
    if isinstance(exc, StoreConnectionError | StoreTimeoutError):
        log.error("job store unreachable: %s", exc)
        return _retry("the job store is unreachable; retry shortly")
    if isinstance(exc, ReadOnlyError) or (
        isinstance(exc, ResponseError) and str(exc).startswith(_UNAVAILABLE_REPLIES)
    ):
        log.error("job store unavailable: %s", exc)
        return _retry("the job store is unavailable for now; retry shortly")
    log.error("job store error", exc_info=exc)
    return problem(500, "internal_error", "the job store refused a request; this is a bug")
