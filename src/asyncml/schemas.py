"""The wire contract: job records, task inputs and outputs, the original routes' bodies."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AnyHttpUrl,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    PlainValidator,
    TypeAdapter,
    ValidationError,
    WithJsonSchema,
    model_validator,
)

from asyncml import sources
from asyncml.dates import parse_draw_date
from asyncml.scheduling import DEFAULT_PRIORITY, PRIORITY_MAX, PRIORITY_MIN


class JobStatus(StrEnum):
    QUEUED = "queued"
    STARTED = "started"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"
    EXPIRED = "expired"

    def is_terminal(self) -> bool:
        return self not in (JobStatus.QUEUED, JobStatus.STARTED)


# What the original contract's GET /task/{id} calls each state.
LEGACY_STATUS = {
    JobStatus.QUEUED: "PENDING",
    JobStatus.STARTED: "STARTED",
    JobStatus.SUCCEEDED: "SUCCESS",
    JobStatus.FAILED: "FAILURE",
    JobStatus.CANCELED: "REVOKED",
    JobStatus.EXPIRED: "FAILURE",
}


class ErrorInfo(BaseModel):
    code: str = Field(description="stable machine-readable code, e.g. download_failed")
    message: str = Field(description="what went wrong and what to do about it")


class AttemptError(ErrorInfo):
    attempt: int = Field(description="the attempt that failed (1 for the first run)")
    at: dt.datetime = Field(description="when it failed")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ---- field types shared by the original routes and the built-in tasks --------------------

# The patterns are what the API's JSON Schema validation sees (it never runs these
# validators); the worker validates again with the full types.
HttpUrl = Annotated[
    AnyHttpUrl,
    Field(
        description="http:// or https:// URL of the audio file",
        json_schema_extra={"pattern": r"^[Hh][Tt][Tt][Pp][Ss]?://[^/?#\s]+"},
    ),
]

_HTTP_URL: TypeAdapter[AnyHttpUrl] = TypeAdapter(AnyHttpUrl)


def _input_url(value: Any) -> str:
    if isinstance(value, str) and sources.is_file_url(value):
        sources.file_id(value)
        return value
    if isinstance(value, str) and sources.is_data_uri(value):
        sources.parse_data_uri(value)
        return value
    try:
        return str(_HTTP_URL.validate_python(value))
    except ValidationError as exc:
        raise ValueError(exc.errors()[0]["msg"]) from None


# A URL a task reads with ctx.open()/ctx.fetch(): http(s), an uploaded file, or a data: URI
# (asyncml.sources). Public as ``asyncml.InputUrl``.
InputUrl = Annotated[
    str,
    PlainValidator(_input_url),
    WithJsonSchema(
        {
            "type": "string",
            "format": "uri",
            "minLength": 1,
            "pattern": r"^([Hh][Tt][Tt][Pp][Ss]?://[^/?#\s]+|asyncml://files/[0-9a-f]{32}$"
            r"|[Dd][Aa][Tt][Aa]:)",
            "description": "http(s) URL of the file, an uploaded file (asyncml://files/<id> "
            "from POST /v1/files) or a small data: URI",
        }
    ),
]


# A day that exists in its month (29 February in any year: the worker checks leap years),
# as YYYY-MM-DD or DD-MM-YYYY.
_MONTH_DAY = (
    r"((0[1-9]|1[0-2])-(0[1-9]|1\d|2[0-8])|(0[13-9]|1[0-2])-(29|30)|(0[13578]|1[02])-31|02-29)"
)
_DAY_MONTH = (
    r"((0[1-9]|1\d|2[0-8])-(0[1-9]|1[0-2])|(29|30)-(0[13-9]|1[0-2])|31-(0[13578]|1[02])|29-02)"
)
DRAW_DATE_PATTERN = rf"^(\d{{4}}-{_MONTH_DAY}|{_DAY_MONTH}-\d{{4}})$"


def _draw_date(value: str | dt.date) -> dt.date:
    return value if isinstance(value, dt.date) else parse_draw_date(value)


DrawDate = Annotated[
    str | dt.date,
    AfterValidator(_draw_date),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": DRAW_DATE_PATTERN,
            "description": "draw date, YYYY-MM-DD or DD-MM-YYYY",
            "examples": ["2024-01-05"],
        }
    ),
]


# ---- jobs ----------------------------------------------------------------------------------

WebhookEvent = Literal["started", "completed"]
WebhookStatus = Literal["pending", "delivering", "succeeded", "failed", "none"]
WebhookUrl = Annotated[
    AnyHttpUrl,
    Field(description="http(s) URL that receives signed webhooks (Standard Webhooks)"),
]


class JobCreate(Strict):
    task: str = Field(description="task name, see GET /v1/tasks", examples=["audio.length"])
    input: dict[str, JsonValue] = Field(
        description="the task's input", examples=[{"url": "https://example.com/a.wav"}]
    )
    webhook: WebhookUrl | None = None
    webhook_events: list[WebhookEvent] = Field(
        default=["completed"],
        min_length=1,
        description="which events are sent to the webhook: started, completed (any end)",
    )
    priority: int = Field(
        default=DEFAULT_PRIORITY,
        ge=PRIORITY_MIN,
        le=PRIORITY_MAX,
        description="0 (default, lowest) to 9 (highest): a higher one starts first",
    )
    deadline: AwareDatetime | None = Field(
        default=None,
        description="RFC 3339 time: not started by then, the job ends expired and never runs",
        examples=["2030-01-01T12:00:00Z"],
    )
    start_within_s: float | None = Field(
        default=None,
        gt=0,
        le=366 * 86400,
        description="seconds from now: the deadline, given relative (not with deadline)",
    )
    timeout_s: float | None = Field(
        default=None,
        ge=1,
        description="this job's time limit in seconds, at most the task's own (its "
        "limits.soft_time_limit_s); past it the job fails with code timeout",
    )

    @model_validator(mode="after")
    def _events_need_webhook(self) -> JobCreate:
        if self.webhook is None and "webhook_events" in self.model_fields_set:
            raise ValueError("webhook_events is set but webhook (the URL to send them to) is not")
        if self.deadline is not None and self.start_within_s is not None:
            raise ValueError("set deadline or start_within_s, not both")
        return self


class WebhookSecret(BaseModel):
    secret: str = Field(description="whsec_…: verify deliveries with it (Standard Webhooks)")


class WebhookAttempt(BaseModel):
    """One attempt to deliver one webhook event."""

    event: WebhookEvent
    webhook_id: str = Field(description="the webhook-id header: the same on every retry")
    attempt: int = Field(description="1 for the first try of this event")
    at: dt.datetime
    status_code: int | None = Field(default=None, description="the receiver's HTTP status")
    error: str | None = Field(default=None, description="why the attempt failed")
    duration_ms: float | None = None
    outcome: Literal["succeeded", "retrying", "failed"]
    next_attempt_at: dt.datetime | None = None


class Progress(BaseModel):
    """The latest progress a running job reported (``ctx.progress``)."""

    done: float
    total: float | None = None
    message: str | None = None


class JobLinks(BaseModel):
    self: str
    cancel: str
    events: str | None = None


class Job(BaseModel):
    id: str
    task: str
    version: str | None = Field(
        default=None, description="the task version the input was validated against"
    )
    status: JobStatus
    input: dict[str, Any]
    progress: Progress | None = Field(
        default=None, description="the latest progress the task reported while running"
    )
    result: Any | None = None
    error: ErrorInfo | None = None
    attempt_errors: list[AttemptError] | None = Field(
        default=None,
        description="the errors of earlier attempts that were retried (a retryable error), "
        "oldest first; the final one, if the job failed, is `error`",
    )
    attempts: int = 0
    priority: int = Field(default=DEFAULT_PRIORITY, description="0 (lowest) to 9 (highest)")
    deadline: dt.datetime | None = Field(
        default=None, description="not started by then, the job ends expired"
    )
    timeout_s: float | None = Field(default=None, description="this job's own time limit")
    queue_position: int | None = Field(
        default=None,
        description="while queued: jobs on its queue accepted before it that have not started "
        "yet (0: next in line); an estimate, as retries and redeliveries may overtake it",
    )
    created_at: dt.datetime
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    expires_at: dt.datetime
    webhook: str | None = None
    webhook_events: list[WebhookEvent] | None = None
    webhook_status: WebhookStatus = Field(
        default="none", description="delivery of the latest webhook event; none: no webhook"
    )
    deliveries: list[WebhookAttempt] | None = Field(
        default=None, description="the webhook delivery log (GET /v1/jobs/{id} only)"
    )
    links: JobLinks | None = None


class FileInfo(BaseModel):
    """An uploaded file (``POST /v1/files``): pass ``url`` where a job input takes a URL."""

    id: str
    url: str = Field(description="asyncml://files/<id>: use it as a job input's URL")
    size: int = Field(description="bytes")
    content_type: str | None = None
    name: str | None = None
    created_at: dt.datetime
    expires_at: dt.datetime = Field(description="kept until then (as long as jobs are kept)")


class JobPage(BaseModel):
    items: list[Job]
    next_cursor: str | None = Field(default=None, description="pass as ?cursor= for the next page")


class SetupError(BaseModel):
    worker: str = Field(description="the worker node whose setup() failed")
    error: str
    at: dt.datetime


class TaskInfo(BaseModel):
    name: str
    version: str
    versions: list[str] = Field(description="every registered version, newest first")
    queue: str
    description: str
    input_schema: dict[str, Any]
    output_schema: dict[str, Any]
    limits: dict[str, Any] = Field(
        default_factory=dict,
        description="time limits and attempts (null: the worker's default); for a batched "
        "task `batch` ({max_size, max_wait_ms}), for one that retries error codes `retry_on`",
    )
    schema_hash: str
    workers: int = Field(description="workers online that serve this version and are set up")
    setup_errors: list[SetupError] = Field(
        default_factory=list, description="workers online whose setup() of this task failed"
    )
    queue_depth: int | None = None


class QueueInfo(BaseModel):
    name: str
    tasks: list[str] = Field(description="tasks that run on this queue")
    depth: int | None = Field(
        description="messages ready in the broker; null when the broker cannot say"
    )
    waiting: int = Field(description="jobs accepted on this queue that have not started yet")
    oldest_waiting_age_s: float | None = Field(
        description="seconds the oldest waiting job has waited; null when none waits"
    )
    workers: int = Field(description="workers serving this queue (fresh heartbeat)")
    worker_processes: int = Field(description="their processes, i.e. jobs they can run at once")


class TaskOutcomes(BaseModel):
    """A task's jobs since the job store began (the counters ``GET /metrics`` exports)."""

    task: str
    submitted: int = Field(default=0, description="jobs accepted")
    succeeded: int = 0
    failed: int = 0
    canceled: int = 0
    expired: int = Field(default=0, description="jobs whose record expired before they ran")


class Problem(BaseModel):
    """Every error response: ``{"error": {"code", "message"}}``."""

    error: ErrorInfo


# ---- the original proof of concept's routes ---------------------------------------------


LegacyCallbackUrl = Annotated[
    AnyHttpUrl | None,
    Field(description="receives the finished job as GET /task/{id} shows it, signed"),
]


class LegacyAudioRequest(BaseModel):
    audio_url: HttpUrl
    callback: bool = False
    callback_url: LegacyCallbackUrl = None


class LegacyEuroRequest(BaseModel):
    draw_date: DrawDate
    callback: bool = False
    callback_url: LegacyCallbackUrl = None


class LegacyCreated(BaseModel):
    id: str


class LegacyTaskResult(BaseModel):
    id: str
    status: Literal["PENDING", "STARTED", "SUCCESS", "FAILURE", "REVOKED"]
    error: str | None = None
    result: Any | None = None
