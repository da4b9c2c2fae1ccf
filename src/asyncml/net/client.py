"""The one egress client: every outbound fetch goes through ``Egress``."""

from __future__ import annotations

import contextlib
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import httpx

from asyncml import sources
from asyncml.errors import DownloadError, FetchTimeoutError, JobError
from asyncml.net.body import BodyReader, transport_errors
from asyncml.net.local import FileLookup, open_data, open_stored
from asyncml.net.pinning import PinnedTransport, Scope, scoped
from asyncml.net.policy import EgressPolicy
from asyncml.net.remote import RemoteFile, open_remote
from asyncml.net.target import Resolver, Target, check, describe, parse_url, system_resolver

_REDIRECTS = frozenset({301, 302, 303, 307, 308})


@dataclass(frozen=True)
class Reply:
    """A POST's answer: status, headers, and the start of the body (for logs)."""

    status_code: int
    headers: httpx.Headers
    text: str


class Egress:
    """A synchronous HTTP client that only reaches destinations the policy allows.

    Each hop (every redirect included) is resolved once and every resolved address is
    checked; the connection then goes to a checked address, never through a second lookup.
    Bodies are capped in bytes and every fetch has a wall-clock deadline.

    ``transport`` replaces the network layer (tests pass ``httpx.MockTransport``). An
    injected transport is sent the checked IP in the URL, with the Host header and TLS SNI
    set to the real name, so it cannot re-resolve either. ``ssl_context`` sets the CAs
    trusted by the default transport (certifi's bundle otherwise).

    ``fetch`` and ``open`` also read a data: URI, and an uploaded file
    (``asyncml://files/<id>``) through ``files``, which finds it in the job store (see
    ``asyncml.sources``): no network, same byte cap.
    """

    def __init__(
        self,
        policy: EgressPolicy,
        *,
        resolver: Resolver | None = None,
        transport: httpx.BaseTransport | None = None,
        ssl_context: ssl.SSLContext | None = None,
        files: FileLookup | None = None,
    ) -> None:
        self.policy = policy
        self._files = files
        self._resolver = resolver or system_resolver
        self._pinned = transport is None
        if transport is None:
            transport = PinnedTransport(ssl_context or httpx.create_ssl_context(trust_env=False))
        # Requests go straight to the transport, not through an httpx.Client: no redirects
        # are followed here (each hop is checked by hand), no proxies come from the
        # environment, no auth applies, and no cookie may carry over from one job to the
        # next; what a Client adds per request (merging defaults, cookie extraction) was a
        # tenth of a worker's CPU per job.
        self._transport = transport
        self._headers = {
            "User-Agent": policy.user_agent,
            "Accept": "*/*",
            "Accept-Encoding": "identity",
        }

    def fetch(self, url: str, *, max_bytes: int | None = None) -> bytes:
        """The whole body of a small document, such as an HTML page."""
        limit = self._limit(max_bytes)
        local = self._open_local(url, limit)
        if local is not None:
            with local:
                return local.readall()
        deadline = time.monotonic() + self.policy.total_timeout
        response, target = self._request(url, {}, deadline)
        try:
            self._check_status(response, target)
            return BodyReader(response, target, limit=limit, deadline=deadline).read_all()
        finally:
            response.close()

    def post(
        self, url: str, body: bytes, headers: Mapping[str, str], *, keep_bytes: int = 1024
    ) -> Reply:
        """POST ``body`` once and return the answer, whatever its status. Redirects are
        answers too, never followed: a webhook must not be bounced somewhere else."""
        deadline = time.monotonic() + self.policy.total_timeout
        target = check(url, self.policy, self._resolver)
        response = self._send(target, dict(headers), deadline, method="POST", content=body)
        try:
            text = b""
            # The answer's body is only kept for the delivery log; a bad one is no failure.
            with contextlib.suppress(JobError):
                reader = BodyReader(
                    response, target, limit=self.policy.max_bytes, deadline=deadline
                )
                while len(text) < keep_bytes and (chunk := reader.next_chunk()) is not None:
                    text += chunk
                reader.drain(self.policy.drain_bytes)
            return Reply(
                response.status_code,
                response.headers,
                text[:keep_bytes].decode("utf-8", "replace"),
            )
        finally:
            response.close()

    def open(self, url: str, *, max_bytes: int | None = None) -> RemoteFile:
        """A lazy, seekable, read-only file over HTTP; close it (or use ``with``) when done."""
        limit = self._limit(max_bytes)
        local = self._open_local(url, limit)
        if local is not None:
            return local
        deadline = time.monotonic() + self.policy.total_timeout
        return open_remote(self, url, limit=limit, deadline=deadline)

    def _open_local(self, url: str, limit: int) -> RemoteFile | None:
        """A data: URI or an uploaded file; None for anything else."""
        if sources.is_data_uri(url):
            return open_data(url, limit)
        if sources.is_file_url(url):
            return open_stored(url, limit, self._files)
        return None

    def close(self) -> None:
        self._transport.close()

    def __enter__(self) -> Egress:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _limit(self, max_bytes: int | None) -> int:
        if max_bytes is None:
            return self.policy.max_bytes
        if max_bytes <= 0:
            raise ValueError("max_bytes must be positive")
        return min(max_bytes, self.policy.max_bytes)

    def _request(
        self, url: str | httpx.URL, headers: dict[str, str], deadline: float
    ) -> tuple[httpx.Response, Target]:
        """GET ``url``, following redirects by hand so that every hop is checked again."""
        current: str | httpx.URL = url
        for _ in range(self.policy.max_redirects + 1):
            target = check(current, self.policy, self._resolver)
            response = self._send(target, headers, deadline)
            location = response.headers.get("Location")
            if response.status_code not in _REDIRECTS or not location:
                return response, target
            response.close()
            try:
                current = target.url.join(location)
            except httpx.InvalidURL:
                raise DownloadError(f"{target.label} redirected to an invalid URL") from None
        first = describe(parse_url(url))
        raise DownloadError(f"{first} redirected more than {self.policy.max_redirects} times")

    def _send(
        self,
        target: Target,
        headers: dict[str, str],
        deadline: float,
        *,
        method: str = "GET",
        content: bytes | None = None,
    ) -> httpx.Response:
        """One request to an already checked target; the body is left to stream."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise FetchTimeoutError(f"timeout: {target.label} took too long to download")
        timeout = httpx.Timeout(remaining, connect=min(self.policy.connect_timeout, remaining))
        extensions: dict[str, Any] = {"timeout": timeout.as_dict()}
        url, all_headers = target.url, {**self._headers, **headers}
        if not self._pinned:
            url = target.url.copy_with(host=target.addresses[0].split("%", 1)[0])
            all_headers["Host"] = target.url.netloc.decode("ascii")
            if target.url.scheme == "https":
                extensions["sni_hostname"] = target.host
        request = httpx.Request(
            method, url, headers=all_headers, content=content, extensions=extensions
        )
        with scoped(Scope(deadline, target.host, target.addresses)), transport_errors(target):
            response = self._transport.handle_request(request)
        response.request = request
        return response

    @staticmethod
    def _check_status(response: httpx.Response, target: Target) -> None:
        if not 200 <= response.status_code < 300:
            response.close()
            status = response.status_code  # the server's trouble (or a rate limit) may pass
            transient = status >= 500 or status in (408, 429)
            raise DownloadError(f"GET {target.label} returned HTTP {status}", retryable=transient)
