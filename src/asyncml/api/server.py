"""Serving the app: uvicorn, and everything asyncml knows about uvicorn's internals.

uvicorn's httptools protocol bounds neither the size of a request head (request line and
headers: it collects them in Python lists as they arrive) nor the time it takes to arrive
(its only timer is keep-alive, armed after a response and cancelled by the next byte). A
thousand connections sending a header line now and then stayed open indefinitely, and three
unfinished 100 MB headers took the API from 80 to 395 MB. ``BoundedHttpToolsProtocol`` adds
both bounds, per request on each connection:

- a head larger than ``ASYNCML_MAX_HEADER_BYTES`` is answered 431 and the connection closed;
- a head not complete ``ASYNCML_HEADER_TIMEOUT_S`` after its first byte (or after the
  connection opened) is answered 408 and the connection closed, however steadily it drips.

Bodies are not affected (``LimitsMiddleware`` caps them; long-polls and event streams are
responses). Behind a reverse proxy the proxy holds the slow clients and these bounds only
meet the proxy; see docs/security.md.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import Any

import orjson
import uvicorn
from fastapi import FastAPI
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from asyncml.settings import Settings

log = logging.getLogger(__name__)


def _answer(status: bytes, code: str, message: str) -> bytes:
    body = orjson.dumps({"error": {"code": code, "message": message}})
    return b"".join(
        [
            b"HTTP/1.1 " + status + b"\r\n",
            b"content-type: application/json\r\n",
            b"content-length: " + str(len(body)).encode() + b"\r\n",
            b"connection: close\r\n\r\n",
            body,
        ]
    )


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a size cap and a deadline on each request head."""

    max_head_bytes = 32 * 1024
    head_timeout_s = 10.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_bytes: int | None = None  # None: not inside a request head
        self._head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._begin_head()  # a connection that never sends a byte is a head that never ends

    def connection_lost(self, exc: Exception | None) -> None:
        self._end_head()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        counting = self._head_bytes is not None
        if counting:
            self._head_bytes = (self._head_bytes or 0) + len(data)
        super().data_received(data)
        if self._head_bytes is None or self.transport.is_closing():
            return
        if not counting:  # a new request's head began within this chunk
            self._head_bytes += len(data)
        if self._head_bytes > self.max_head_bytes:
            self._refuse(
                b"431 Request Header Fields Too Large",
                "too_large",
                f"the request line and headers are larger than {self.max_head_bytes} bytes "
                "(ASYNCML_MAX_HEADER_BYTES)",
            )

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._head_bytes is None:
            self._begin_head()

    def on_headers_complete(self) -> None:
        self._end_head()
        super().on_headers_complete()

    def _begin_head(self) -> None:
        self._head_bytes = 0
        self._arm(self.head_timeout_s)

    def _end_head(self) -> None:
        self._head_bytes = None
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _arm(self, delay: float) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
        self._head_timer = self.loop.call_later(delay, self._head_overdue)

    def _head_overdue(self) -> None:
        self._head_timer = None
        if self._head_bytes is None or self.transport.is_closing():
            return
        busy = self.cycle is not None and not self.cycle.response_complete
        if busy or self.flow.read_paused:
            # A pipelined head waits while the request before it is answered (reading is
            # paused meanwhile): its clock starts once that answer is out.
            self._arm(self.head_timeout_s)
            return
        self._refuse(
            b"408 Request Timeout",
            "timeout",
            f"the request line and headers took longer than {self.head_timeout_s:g} s "
            "(ASYNCML_HEADER_TIMEOUT_S)",
        )

    def _refuse(self, status: bytes, code: str, message: str) -> None:
        self._end_head()
        log.info("%s from %s: %s", status.decode(), self.client, message)
        self.transport.write(_answer(status, code, message))
        self.transport.close()


def bounded_protocol(settings: Settings) -> type[BoundedHttpToolsProtocol]:
    """The protocol class with this configuration's bounds (uvicorn builds one instance
    per connection from the class it is given)."""
    return type(
        "BoundedHttpToolsProtocol",
        (BoundedHttpToolsProtocol,),
        {
            "max_head_bytes": settings.max_header_bytes,
            "head_timeout_s": settings.header_timeout_s,
        },
    )


class _SkipProbes(logging.Filter):
    """Leave successful health probes out of the access log: a launcher's readiness checks
    and Kubernetes' probes every few seconds would drown the requests people look for."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == 5:  # client, method, path, version, status
            return not (args[2] in PROBE_PATHS and args[4] == 200)
        return True


PROBE_PATHS = frozenset({"/healthz", "/readyz"})


def _quiet_start(settings: Settings) -> None:
    """One start line of our own instead of uvicorn's three ("Started server process",
    "Waiting for application startup", "Application startup complete"); its warnings and
    errors still show, and ASYNCML_LOG_LEVEL=DEBUG shows everything."""
    if settings.log_level != "DEBUG":
        logging.getLogger("uvicorn.error").setLevel(logging.WARNING)
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, _SkipProbes) for f in access.filters):
        access.addFilter(_SkipProbes())
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    url = f"http://{host}:{settings.port}"
    log.info("API listening on %s (docs at %s/docs)", url, url)


def serve(app: FastAPI, settings: Settings, sock: socket.socket) -> None:
    """Run ``app`` under uvicorn on ``sock`` (see ``asyncml.ports.bind``) until told to stop."""
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        http=bounded_protocol(settings),
        timeout_keep_alive=settings.keep_alive_s,
        root_path=settings.root_path,
        proxy_headers=True,
        forwarded_allow_ips=settings.forwarded_allow_ips,
        log_level=settings.log_level.lower(),
        # uvicorn's one line per request ("GET /v1/jobs/… HTTP/1.1" 200), through asyncml's
        # handler like every other line; ASYNCML_ACCESS_LOG=false drops it (a busy API's
        # largest share of log volume, and some CPU per request).
        access_log=settings.access_log,
        log_config=None,  # uvicorn's lines go through asyncml's handler (text or JSON)
        timeout_graceful_shutdown=10,
    )
    _quiet_start(settings)  # after Config, which sets uvicorn's logger levels
    uvicorn.Server(config).run(sockets=[sock])
