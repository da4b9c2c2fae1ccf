"""Logging for every asyncml process: text for people, JSON lines for log pipelines.

``ASYNCML_LOG_FORMAT=json`` (or ``asyncml --log-format json``) writes one JSON object per
line to stderr. Whatever the format, a line logged while a job is being handled carries the
job's id: the API binds it for requests about a job, workers for the duration of a task, and
a filter copies it onto every record, including those of libraries (httpx, celery, redis).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import sys
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any, Literal

import orjson

LogFormat = Literal["text", "json"]

job_id_var: ContextVar[str | None] = ContextVar("asyncml_job_id", default=None)

TEXT_FORMAT = "%(asctime)s %(levelname)s [%(process)d] %(name)s: %(message)s"
# Attributes every LogRecord has; anything else on a record came from ``extra=`` and is
# shown. Celery's ``data`` extra repeats a task's arguments (job input: URLs that may carry
# tokens) and is left out.
_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {
    "message",
    "asctime",
    "job_id",
    "data",
    "color_message",  # uvicorn's copy of the message with terminal colours
}


def bind_job(job_id: str | None) -> None:
    """Tag the rest of this context (a request, a task) with ``job_id``."""
    job_id_var.set(job_id)


@contextlib.contextmanager
def job_context(job_id: str | None) -> Iterator[None]:
    """Tag log lines with ``job_id`` inside the block only."""
    token = job_id_var.set(job_id)
    try:
        yield
    finally:
        job_id_var.reset(token)


class JobIdFilter(logging.Filter):
    """Put the current job id on every record as ``record.job_id`` (None outside a job).

    Celery's own task lines ("Task … received", "… succeeded in …") come from its main
    process too, outside any task; they carry the task id, which is the job id, in ``data``.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "job_id", None) is None:
            job_id = job_id_var.get()
            data = getattr(record, "data", None)
            if job_id is None and isinstance(data, dict) and record.name.startswith("celery"):
                job_id = data.get("id")
            record.job_id = job_id
        return True


class TextFormatter(logging.Formatter):
    """The classic one-line format, with ``[job …]`` added where the message lacks the id."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        job_id = getattr(record, "job_id", None)
        if job_id and job_id not in record.getMessage():
            first, newline, rest = line.partition("\n")
            line = f"{first} [job {job_id}]{newline}{rest}"
        return line


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, message, process, job_id, extras, exc."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": dt.datetime.fromtimestamp(record.created, tz=dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "process": record.process,
        }
        job_id = getattr(record, "job_id", None)
        if job_id:
            entry["job_id"] = job_id
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return orjson.dumps(entry, default=str).decode()


def configure(level: str = "INFO", fmt: LogFormat = "text") -> None:
    """Send every logger's records to stderr in ``fmt``, tagged with the current job id."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(JobIdFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    logging.captureWarnings(True)  # warnings become log lines (JSON too), not stray text
    # One line per outbound request is noise at INFO (the launcher's readiness probe, fetches).
    logging.getLogger("httpx").setLevel(max(logging.WARNING, root.level))
