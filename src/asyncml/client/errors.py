"""What the SDK raises, in one tree. Catch the narrowest class you can act on.

    ClientError                     base of everything below
    ├── APIConnectionError          the API could not be reached or did not answer in time
    ├── TimeoutError                a wait ended before the job finished (also the built-in
    │                               ``TimeoutError``); ``.job`` is the last state seen
    ├── JobFailedError              the job ended ``failed``, ``canceled`` or ``expired``;
    │                               ``.code`` is its stable error code, ``.job`` the job
    └── APIError                    the API answered with an error: ``.status_code``,
        │                           ``.code``, ``.message``
        ├── AuthenticationError     401/403: missing or wrong API key
        ├── NotFoundError           404: no such job
        ├── ConflictError           409: the job already finished, or an Idempotency-Key
        │                           was reused with another body
        ├── ValidationError         422: invalid request; the message names the field
        └── UnavailableError        429, 502, 503, 504: retry later; ``.retry_after`` is
                                    the server's Retry-After in seconds (or ``None``)

``UnavailableError`` and ``APIConnectionError`` are retried by the client itself (see
``max_retries``) before they reach you.
"""

from __future__ import annotations

import builtins
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from asyncml.client.models import JobInfo


class ClientError(Exception):
    """Base class of every error the SDK raises."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class APIConnectionError(ClientError):
    """The API could not be reached (refused, DNS, network) or did not answer in time."""


class TimeoutError(ClientError, builtins.TimeoutError):
    """A wait ran out before the job finished. The job goes on running."""

    def __init__(self, message: str, job: JobInfo | None = None) -> None:
        super().__init__(message)
        self.job = job


class JobFailedError(ClientError):
    """The job finished without a result. Branch on ``.code`` (e.g. ``download_failed``)."""

    def __init__(self, job: JobInfo) -> None:
        code = job.error.code if job.error else job.status.value
        detail = job.error.message if job.error else f"the job ended {job.status.value}"
        super().__init__(f"job {job.id} {job.status.value}: {code}: {detail}")
        self.job = job
        self.code = code
        self.detail = detail


class APIError(ClientError):
    """The API answered with an error status."""

    def __init__(self, status_code: int, code: str, message: str) -> None:
        super().__init__(f"{status_code} {code}: {message}")
        self.status_code = status_code
        self.code = code
        self.message = message


class AuthenticationError(APIError):
    """401/403: the API key is missing or not accepted."""


class NotFoundError(APIError):
    """404: no such job (or it is not visible with this API key)."""


class ConflictError(APIError):
    """409: the request conflicts with the job's state or an earlier request."""


class ValidationError(APIError):
    """422: the request is invalid; the message names the field."""


class UnavailableError(APIError):
    """The API or what it depends on is unavailable right now; retry after ``retry_after``."""

    def __init__(
        self, status_code: int, code: str, message: str, retry_after: float | None = None
    ) -> None:
        super().__init__(status_code, code, message)
        self.retry_after = retry_after


__all__ = [
    "APIConnectionError",
    "APIError",
    "AuthenticationError",
    "ClientError",
    "ConflictError",
    "JobFailedError",
    "NotFoundError",
    "TimeoutError",
    "UnavailableError",
    "ValidationError",
]
