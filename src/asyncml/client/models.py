"""What the API sends back, as plain frozen dataclasses (no pydantic: the SDK stays light)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from asyncml.client.errors import ClientError


class JobStatus(StrEnum):
    """``queued → started → succeeded | failed | canceled | expired``."""

    QUEUED = "queued"
    STARTED = "started"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"
    EXPIRED = "expired"

    def is_terminal(self) -> bool:
        return self not in (JobStatus.QUEUED, JobStatus.STARTED)


@dataclass(frozen=True)
class JobErrorInfo:
    code: str
    message: str


@dataclass(frozen=True)
class AttemptErrorInfo(JobErrorInfo):
    """The error of an attempt that was retried (a retryable error)."""

    attempt: int = 0


def _attempt_errors(value: Any) -> tuple[AttemptErrorInfo, ...]:
    items = value if isinstance(value, list) else []
    return tuple(
        AttemptErrorInfo(
            str(e.get("code", "")), str(e.get("message", "")), int(e.get("attempt", 0))
        )
        for e in items
        if isinstance(e, dict)
    )


def _time(value: Any) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if isinstance(value, str) and value else None


@dataclass(frozen=True)
class JobInfo:
    """One job as the API last described it. ``raw`` is the JSON exactly as received."""

    id: str
    task: str
    status: JobStatus
    input: dict[str, Any]
    result: Any = None
    error: JobErrorInfo | None = None
    attempt_errors: tuple[AttemptErrorInfo, ...] = ()  # of the attempts retried, oldest first
    attempts: int = 0
    priority: int = 0
    deadline: dt.datetime | None = None
    timeout_s: float | None = None
    created_at: dt.datetime | None = None
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    expires_at: dt.datetime | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> JobInfo:
        error = data.get("error")
        return cls(
            id=str(data["id"]),
            task=str(data.get("task", "")),
            status=JobStatus(data["status"]),
            input=dict(data.get("input") or {}),
            result=data.get("result"),
            error=JobErrorInfo(str(error.get("code", "")), str(error.get("message", "")))
            if isinstance(error, dict)
            else None,
            attempt_errors=_attempt_errors(data.get("attempt_errors")),
            attempts=int(data.get("attempts") or 0),
            priority=int(data.get("priority") or 0),
            deadline=_time(data.get("deadline")),
            timeout_s=data.get("timeout_s"),
            created_at=_time(data.get("created_at")),
            started_at=_time(data.get("started_at")),
            finished_at=_time(data.get("finished_at")),
            expires_at=_time(data.get("expires_at")),
            raw=data,
        )

    @property
    def ok(self) -> bool:
        return self.status is JobStatus.SUCCEEDED


@dataclass(frozen=True)
class TaskInfo:
    """A task the API can run (``GET /v1/tasks``)."""

    name: str
    queue: str
    description: str
    input_schema: dict[str, Any]
    output_schema: dict[str, Any]
    queue_depth: int | None = None
    version: str = ""
    workers: int | None = None
    setup_errors: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TaskInfo:
        return cls(
            name=str(data["name"]),
            queue=str(data.get("queue", "")),
            description=str(data.get("description", "")),
            input_schema=dict(data.get("input_schema") or {}),
            output_schema=dict(data.get("output_schema") or {}),
            queue_depth=data.get("queue_depth"),
            version=str(data.get("version", "")),
            workers=data.get("workers"),
            setup_errors=list(data.get("setup_errors") or []),
        )

    @property
    def required_inputs(self) -> list[str]:
        """Names of the input fields a job must give, in schema order."""
        required = self.input_schema.get("required") or []
        return [str(name) for name in required]


@dataclass(frozen=True)
class Outcome:
    """How one input of a batch ended: a finished job, or the error that stopped it.

    ``job`` is the last state seen (``None`` when the API refused the input);
    ``error`` is ``None`` exactly when the job succeeded.
    """

    index: int
    input: dict[str, Any]
    job: JobInfo | None
    error: ClientError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.job is not None and self.job.ok

    @property
    def result(self) -> Any:
        """The job's result; raises the error when there is none."""
        if self.error is not None:
            raise self.error
        assert self.job is not None
        return self.job.result


__all__ = ["JobErrorInfo", "JobInfo", "JobStatus", "Outcome", "TaskInfo"]
