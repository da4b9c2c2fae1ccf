"""Connect only to addresses the policy has checked, and never read past the deadline.

The checked addresses and the deadline travel in a context variable set around each
request and each body read. A network backend under httpcore's pool reads it: it connects
to the checked IP instead of resolving the host name a second time (so DNS cannot rebind
between check and connect) and clamps every socket timeout to the time left. The URL keeps
its host name, so the Host header, TLS SNI, certificate checks and the pool's key all stay
the real name.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import httpcore
import httpx

SocketOption = Any  # httpcore's SOCKET_OPTION union; only passed through


@dataclass(frozen=True)
class Scope:
    """What the current request may do: until when, and (when connecting) to which IPs."""

    deadline: float
    host: str | None = None
    addresses: tuple[str, ...] = ()


_scope: ContextVar[Scope | None] = ContextVar("asyncml_egress_scope", default=None)


@contextmanager
def scoped(scope: Scope) -> Iterator[None]:
    token = _scope.set(scope)
    try:
        yield
    finally:
        _scope.reset(token)


def _clamp(timeout: float | None, on_expiry: type[Exception]) -> float | None:
    scope = _scope.get()
    if scope is None:
        return timeout
    remaining = scope.deadline - time.monotonic()
    if remaining <= 0:
        raise on_expiry("the fetch deadline has passed")
    return remaining if timeout is None else min(timeout, remaining)


# The first bytes of each answer come off the socket in reads no larger than this
# (httpcore asks for 64 KiB). A header probe of a server that ignores Range stops there,
# so this is what it costs when the rest is not drained; past them (a body read on, or
# drained) reads take httpcore's 64 KiB: a quarter of the reads for the same bytes.
READ_CHUNK = 16 * 1024


class _DeadlineStream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner
        self._small_left = READ_CHUNK

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        # HTTP/1.1 writes a request, then reads its answer: what is read after a write is
        # an answer's start (headers may come in a read of their own).
        if self._small_left > 0:
            max_bytes = min(max_bytes, self._small_left)
        data = self._inner.read(max_bytes, _clamp(timeout, httpcore.ReadTimeout))
        self._small_left -= len(data)
        return data

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._small_left = READ_CHUNK
        self._inner.write(buffer, _clamp(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        timeout = _clamp(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._inner.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class PinnedBackend(httpcore.NetworkBackend):
    """Opens TCP connections only to the checked addresses of the current scope."""

    def __init__(self) -> None:
        self._inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[SocketOption] | None = None,
    ) -> httpcore.NetworkStream:
        scope = _scope.get()
        if scope is None or scope.host != host or not scope.addresses:
            # Fail closed: a connection nobody checked is a bug, never a fallback to DNS.
            raise httpcore.ConnectError(f"refusing to connect to unchecked host {host}")
        failure: Exception | None = None
        for address in scope.addresses:
            try:
                stream = self._inner.connect_tcp(
                    address,
                    port,
                    _clamp(timeout, httpcore.ConnectTimeout),
                    local_address,
                    socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
                continue
            return _DeadlineStream(stream)
        assert failure is not None
        raise failure

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[SocketOption] | None = None,
    ) -> httpcore.NetworkStream:
        raise httpcore.ConnectError("unix sockets are not reachable through the egress client")

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class PinnedTransport(httpx.HTTPTransport):
    """httpx's own transport, with its connection pool built on ``PinnedBackend``.

    Reusing a pooled connection is as safe as opening a new one. httpcore hands an idle
    connection only to a request for the same origin (scheme, host name, port: its pool
    key), and every connection was opened by ``PinnedBackend`` to an address that
    ``check()`` accepted for that very host name and port under this client's one policy,
    which does not change. Every request still runs ``check()`` first, so a destination
    refused now is refused before the pool is asked; if DNS now gives other addresses,
    the reused connection still leads to one that passed the check when it was opened.
    """

    def __init__(self, ssl_context: ssl.SSLContext) -> None:
        super().__init__(verify=ssl_context, trust_env=False)
        # httpx 0.28 takes no network backend, so rebuild the pool exactly as
        # HTTPTransport.__init__ does (default limits) with ours underneath.
        limits = httpx.Limits(max_connections=100, max_keepalive_connections=20)
        self._pool = httpcore.ConnectionPool(
            ssl_context=ssl_context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=PinnedBackend(),
        )
