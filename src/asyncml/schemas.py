"""The wire contract: job records, task inputs and outputs, the original routes' bodies."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AnyHttpUrl,
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
)

from asyncml.dates import format_draw_date, parse_draw_date


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


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ---- task inputs and outputs ------------------------------------------------------------

HttpUrl = Annotated[AnyHttpUrl, Field(description="http:// or https:// URL of the audio file")]


def _draw_date(value: str | dt.date) -> dt.date:
    return value if isinstance(value, dt.date) else parse_draw_date(value)


DrawDate = Annotated[
    str | dt.date,
    AfterValidator(_draw_date),
    Field(description="draw date, YYYY-MM-DD or DD-MM-YYYY", examples=["2024-01-05"]),
]


class AudioUrlInput(Strict):
    url: HttpUrl


class AudioLengthOutput(BaseModel):
    audio_length: float = Field(description="duration in seconds")
    sample_rate: int
    channels: int
    format: str
    frames: int | None = None
    bytes_fetched: int = Field(description="bytes downloaded to answer")


class EuroResultsInput(Strict):
    draw_date: DrawDate

    def draw_day(self) -> dt.date:
        value = self.draw_date
        assert isinstance(value, dt.date)
        return value

    def path_segment(self) -> str:
        return format_draw_date(self.draw_day())


class EuroResultsOutput(BaseModel):
    draw_date: str
    numbers: list[int] = Field(min_length=5, max_length=5)
    stars: list[int] = Field(min_length=2, max_length=2)


# ---- jobs ----------------------------------------------------------------------------------


class JobCreate(Strict):
    task: str = Field(description="task name, see GET /v1/tasks", examples=["audio.length"])
    input: dict[str, JsonValue] = Field(
        description="the task's input", examples=[{"url": "https://example.com/a.wav"}]
    )


class JobLinks(BaseModel):
    self: str
    cancel: str


class Job(BaseModel):
    id: str
    task: str
    status: JobStatus
    input: dict[str, Any]
    result: Any | None = None
    error: ErrorInfo | None = None
    attempts: int = 0
    created_at: dt.datetime
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    expires_at: dt.datetime
    links: JobLinks | None = None


class JobPage(BaseModel):
    items: list[Job]
    next_cursor: str | None = Field(default=None, description="pass as ?cursor= for the next page")


class TaskInfo(BaseModel):
    name: str
    queue: str
    description: str
    input_schema: dict[str, Any]
    output_schema: dict[str, Any]
    queue_depth: int | None = None


class Problem(BaseModel):
    """Every error response: ``{"error": {"code", "message"}}``."""

    error: ErrorInfo


# ---- the original proof of concept's routes ---------------------------------------------


class LegacyAudioRequest(BaseModel):
    audio_url: HttpUrl
    callback: bool = False


class LegacyEuroRequest(BaseModel):
    draw_date: DrawDate
    callback: bool = False


class LegacyCreated(BaseModel):
    id: str


class LegacyTaskResult(BaseModel):
    id: str
    status: Literal["PENDING", "STARTED", "SUCCESS", "FAILURE", "REVOKED"]
    error: str | None = None
    result: Any | None = None
