"""The error tree.

Job errors travel from model code through the worker into the job record as
``{"code", "message"}``; the code is a stable string clients may branch on. A job error
marked ``retryable`` (transient download failures and timeouts are, by default; a task's
``TaskError(..., retryable=True)``) runs the job again after a backoff, up to its task's
``max_attempts``, instead of failing it at once.

    AsyncmlError
    ├── JobError                      a job failed; carries a stable ``code``
    │   ├── DownloadError             download_failed: unreachable host, HTTP error status
    │   ├── DestinationNotAllowedError destination_not_allowed: private/loopback/metadata target
    │   ├── TooLargeError             too_large: over the byte cap
    │   ├── FetchTimeoutError         timeout: over a deadline
    │   ├── UnsupportedMediaError     unsupported_media: not a format we can read
    │   ├── NoDrawOnDateError         no_draw_on_date: EuroMillions has no draw that day
    │   ├── FutureDateError           future_date: the draw has not happened yet
    │   └── PageChangedError          page_changed: the results page changed shape
    ├── JobNotFoundError              unknown id (HTTP 404)
    ├── ConflictError                 state or idempotency conflict (HTTP 409)
    ├── UnauthorizedError             missing or unknown API key (HTTP 401)
    ├── BadHeaderError                a request header that cannot be honoured (HTTP 400)
    └── ServiceUnavailableError       broker or store unreachable (HTTP 503)
        └── QueueFullError            the queue holds ASYNCML_MAX_QUEUED jobs (HTTP 503)
"""

from __future__ import annotations


def quoted(value: str, most: int = 64) -> str:
    """``value`` as ``repr`` shows it, cut to ``most`` characters: an error message that
    echoes what a client sent must not grow with it (a 60 KB id is not worth sending back)."""
    if len(value) <= most:
        return repr(value)
    return f"{value[:most]!r}... ({len(value)} characters)"


class AsyncmlError(Exception):
    """Base class of every error asyncml raises on purpose."""


class JobError(AsyncmlError):
    """A job failed for a reason worth telling the client."""

    code = "internal_error"
    retryable = False  # a later attempt may succeed (see ASYNCML_RETRY_*)

    def __init__(
        self, message: str, *, code: str | None = None, retryable: bool | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if retryable is not None:
            self.retryable = retryable

    def as_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


class DownloadError(JobError):
    code = "download_failed"


class DestinationNotAllowedError(JobError):
    code = "destination_not_allowed"


class TooLargeError(JobError):
    code = "too_large"


class FetchTimeoutError(JobError):
    code = "timeout"
    retryable = True  # a slow origin may answer next time


class UnsupportedMediaError(JobError):
    code = "unsupported_media"


class NoDrawOnDateError(JobError):
    code = "no_draw_on_date"


class FutureDateError(JobError):
    code = "future_date"


class PageChangedError(JobError):
    code = "page_changed"


class JobNotFoundError(AsyncmlError):
    """No job with that id (or not visible to this caller)."""


class ConflictError(AsyncmlError):
    """The request conflicts with the job's state or an earlier request."""


class BadHeaderError(AsyncmlError):
    """A request header whose value this API cannot use (e.g. a foreign ``Last-Event-ID``)."""


class ServiceUnavailableError(AsyncmlError):
    """A backing service (broker, store) cannot be reached right now."""


class UnauthorizedError(AsyncmlError):
    """No API key, or one this API does not know."""


class QueueFullError(ServiceUnavailableError):
    """The task's queue already holds as many waiting jobs as allowed; retry later."""
