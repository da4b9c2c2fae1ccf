"""``Hops``: what the remote readers need of the egress client, and nothing more.

``remote.py`` and ``readers.py`` fetch through this small public protocol, so they never
reach into ``Egress`` (which builds on them) and the package has no import circle.
"""

from __future__ import annotations

from typing import Protocol

import httpx

from asyncml.errors import DownloadError
from asyncml.net.policy import EgressPolicy
from asyncml.net.target import Target


class Hops(Protocol):
    """Checked requests: every hop's address is checked against the egress policy."""

    @property
    def policy(self) -> EgressPolicy: ...

    def request(
        self, url: str | httpx.URL, headers: dict[str, str], deadline: float
    ) -> tuple[httpx.Response, Target]:
        """GET ``url``, following redirects, each hop checked; the body is left to stream."""
        ...

    def send(self, target: Target, headers: dict[str, str], deadline: float) -> httpx.Response:
        """One GET to an already checked target; the body is left to stream."""
        ...


def check_status(response: httpx.Response, target: Target) -> None:
    """Raise ``DownloadError`` (closing the response) unless the answer is a 2xx."""
    if not 200 <= response.status_code < 300:
        response.close()
        status = response.status_code  # the server's trouble (or a rate limit) may pass
        transient = status >= 500 or status in (408, 429)
        raise DownloadError(f"GET {target.label} returned HTTP {status}", retryable=transient)
