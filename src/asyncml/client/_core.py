"""What the sync and async clients share: configuration, request bodies, error mapping,
the retry policy and long-poll arithmetic. No I/O happens here."""

from __future__ import annotations

import datetime as dt
import os
import random
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

import asyncml
from asyncml.client import errors

DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=5.0)
DEFAULT_WAIT_S = 300.0
DEFAULT_CONCURRENCY = 8
# One long-poll request waits at most this long; the server caps it too
# (ASYNCML_LONG_POLL_MAX_S) and proxies dislike idle connections much longer than this.
LONG_POLL_S = 30.0
# Without the event stream, state changes are looked for this often (a wait that returns
# at once when the job finishes).
EVENTS_POLL_S = 1.0
RETRY_STATUSES = frozenset({429, 502, 503, 504})
USER_AGENT = f"asyncml-python/{asyncml.__version__}"


def default_url() -> str:
    """ASYNCML_URL, else the API a local ``asyncml up``/``api`` started with the same
    ASYNCML_HOST and ASYNCML_PORT listens on: the client finds the server those settings
    made without being told twice."""
    # The SDK is used apart from the server, so it reads these variables itself rather
    # than through asyncml.settings (which validates the server's whole configuration).
    if url := os.environ.get("ASYNCML_URL"):
        return url
    host = os.environ.get("ASYNCML_HOST") or "127.0.0.1"
    port = os.environ.get("ASYNCML_PORT") or "5000"
    if host in ("0.0.0.0", "::", "[::]"):  # listening everywhere: reach it on loopback
        host = "127.0.0.1"
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{port}"


def resolve_url(base_url: str | None) -> str:
    url = base_url or default_url()
    if "://" not in url:
        url = f"http://{url}"
    return url.rstrip("/")


def resolve_api_key(api_key: str | None) -> str | None:
    return api_key or os.environ.get("ASYNCML_API_KEY") or None


def headers(api_key: str | None) -> dict[str, str]:
    out = {"User-Agent": USER_AGENT, "Accept": "application/json"}
    if api_key:
        out["Authorization"] = f"Bearer {api_key}"
    return out


def job_body(
    task: str,
    input: Mapping[str, Any] | None,
    webhook: str | None,
    webhook_events: Sequence[str] | None,
    schedule: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {"task": task, "input": dict(input or {})}
    # Sent only when given, so servers without webhooks keep accepting the request.
    if webhook is not None:
        body["webhook"] = webhook
    if webhook_events is not None:
        body["webhook_events"] = list(webhook_events)
    for name, value in (schedule or {}).items():
        if value is not None:
            body[name] = value.isoformat() if isinstance(value, dt.datetime) else value
    return body


def schedule(
    priority: int | None,
    deadline: dt.datetime | str | None,
    start_within_s: float | None,
    timeout_s: float | None,
) -> dict[str, Any]:
    """A job's scheduling options, as ``job_body`` sends them (unset ones are left out)."""
    if isinstance(deadline, dt.datetime) and deadline.tzinfo is None:
        raise ValueError("deadline: give a timezone-aware datetime (e.g. with tz=dt.UTC)")
    return {
        "priority": priority,
        "deadline": deadline,
        "start_within_s": start_within_s,
        "timeout_s": timeout_s,
    }


def idempotency_key(given: str | None) -> str:
    """Every submission carries a key, so a retried POST can never create a second job."""
    return given or f"asyncml-sdk-{uuid.uuid4()}"


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:  # an HTTP date: rare enough to treat as "soon"
        return None


def api_error(response: httpx.Response) -> errors.APIError:
    """The typed error for an error response (``{"error": {"code", "message"}}``)."""
    status = response.status_code
    code, message = "http_error", response.reason_phrase or f"HTTP {status}"
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        code = str(body["error"].get("code") or code)
        message = str(body["error"].get("message") or message)
    elif isinstance(body, dict) and "detail" in body:
        message = str(body["detail"])
    elif response.text:
        message = response.text[:500]
    if status in RETRY_STATUSES:
        return errors.UnavailableError(status, code, message, _retry_after(response))
    kind: type[errors.APIError] = {
        401: errors.AuthenticationError,
        403: errors.AuthenticationError,
        404: errors.NotFoundError,
        409: errors.ConflictError,
        422: errors.ValidationError,
    }.get(status, errors.APIError)
    return kind(status, code, message)


def connection_error(exc: httpx.TransportError, url: str) -> errors.APIConnectionError:
    if isinstance(exc, httpx.TimeoutException):
        reason = f"no answer in time ({type(exc).__name__})"
    else:
        reason = str(exc) or type(exc).__name__
    return errors.APIConnectionError(f"cannot reach the asyncml API at {url}: {reason}")


@dataclass(frozen=True)
class RetryPolicy:
    """Retry what cannot have had an effect, or what is safe to repeat."""

    max_retries: int = 2
    backoff_s: float = 0.5
    backoff_max_s: float = 8.0
    retry_after_max_s: float = 30.0

    def should_retry(self, attempt: int, exc: Exception, safe: bool) -> bool:
        if attempt >= self.max_retries:
            return False
        if isinstance(exc, errors.UnavailableError):
            return True  # the API refused before doing anything
        if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout):
            return True  # the request never left
        return safe and isinstance(exc, httpx.TransportError)

    def delay(self, attempt: int, exc: Exception) -> float:
        if isinstance(exc, errors.UnavailableError) and exc.retry_after is not None:
            return min(exc.retry_after, self.retry_after_max_s)
        backoff: float = min(self.backoff_max_s, self.backoff_s * 2**attempt)
        return backoff * random.uniform(0.5, 1.0)


def with_wait(timeout: httpx.Timeout, wait_s: float) -> httpx.Timeout:
    """The request timeout for a long-poll: the usual one plus the time the server may wait."""
    read = None if timeout.read is None else timeout.read + wait_s
    return httpx.Timeout(connect=timeout.connect, read=read, write=timeout.write, pool=timeout.pool)


def timed_out(job_id: str, timeout: float | None, last: Any) -> errors.TimeoutError:
    status = getattr(getattr(last, "status", None), "value", "unfinished")
    return errors.TimeoutError(
        f"job {job_id} is still {status} after {timeout:g}s; it goes on running "
        "(wait again, or cancel it)",
        last,
    )


def remaining(deadline: float | None) -> float | None:
    return None if deadline is None else deadline - time.monotonic()


def stream_timeout(timeout: httpx.Timeout, deadline: float | None) -> httpx.Timeout:
    """An event stream is idle between events: it may stay open until the deadline."""
    left = remaining(deadline)
    read = None if left is None else max(0.1, left)
    return httpx.Timeout(connect=timeout.connect, read=read, write=timeout.write, pool=timeout.pool)


def stream_headers(last_event_id: str | None) -> dict[str, str]:
    headers = {"Accept": "text/event-stream"}
    if last_event_id:
        headers["Last-Event-ID"] = last_event_id
    return headers
