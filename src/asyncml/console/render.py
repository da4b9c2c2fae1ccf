"""How jobs, tasks and results look on a terminal (rich), and as JSON lines."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from typing import Any

from rich.table import Table
from rich.text import Text

from asyncml.client import JobInfo, JobStatus, Outcome, TaskInfo, errors
from asyncml.client.errors import APIError, ClientError, JobFailedError

STYLES = {
    JobStatus.QUEUED: "dim",
    JobStatus.STARTED: "cyan",
    JobStatus.SUCCEEDED: "green",
    JobStatus.FAILED: "red",
    JobStatus.CANCELED: "yellow",
    JobStatus.EXPIRED: "yellow",
}


def status_text(status: JobStatus | str) -> Text:
    try:
        style = STYLES[JobStatus(status)]
    except ValueError:
        style = "red"
    return Text(str(status), style=style)


def _compact(value: Any, limit: int = 90) -> str:
    text = json.dumps(value, separators=(", ", ": "), ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def summarize_result(task: str, result: Any) -> str:
    """One line for a result: known shapes in words, anything else as short JSON."""
    if not isinstance(result, dict):
        return _compact(result)
    if "audio_length" in result:
        parts = [f"{result['audio_length']:.2f} s"]
        if result.get("sample_rate"):
            parts.append(f"{result['sample_rate']} Hz")
        if result.get("channels"):
            parts.append(f"{result['channels']} ch")
        if result.get("format"):
            parts.append(str(result["format"]))
        return " · ".join(parts)
    if "numbers" in result and "stars" in result:
        numbers = " ".join(f"{n:>2}" for n in result["numbers"])
        stars = " ".join(f"{s:>2}" for s in result["stars"])
        return f"{numbers}  ★ {stars}"
    if "gender" in result:
        if result["gender"] is None:
            return f"no answer ({result.get('reason') or 'no usable speech'})"
        detail = []
        if isinstance(result.get("confidence"), int | float):
            detail.append(f"{result['confidence']:.0%}")
        if isinstance(result.get("median_f0_hz"), int | float):
            detail.append(f"f0 {result['median_f0_hz']:.0f} Hz")
        return f"{result['gender']} ({', '.join(detail)})" if detail else str(result["gender"])
    return _compact(result)


def summarize_error(error: ClientError) -> str:
    if isinstance(error, JobFailedError):
        return f"{error.code}: {error.detail}"
    if isinstance(error, APIError):
        return f"refused ({error.status_code} {error.code}): {error.message}"
    return error.message


def outcome_status(outcome: Outcome) -> str:
    """A job status, or what stopped the input before it had one."""
    if outcome.job is not None:
        return outcome.job.status.value
    return "refused" if isinstance(outcome.error, APIError) else "error"


def outcome_line(outcome: Outcome) -> str:
    """One JSON line per input for ``--json``: the job as the API gave it, plus the error."""
    job = outcome.job.raw if outcome.job is not None else {}
    error: dict[str, Any] | None = None
    if outcome.job is not None and outcome.job.error is not None:
        error = {"code": outcome.job.error.code, "message": outcome.job.error.message}
    if outcome.error is not None and error is None:
        code = getattr(outcome.error, "code", None) or type(outcome.error).__name__
        if isinstance(outcome.error, errors.TimeoutError):
            code = "client_timeout"
        error = {"code": code, "message": outcome.error.message}
    line = {
        "index": outcome.index,
        "input": outcome.input,
        "id": job.get("id"),
        "status": outcome_status(outcome),
        "result": job.get("result"),
        "error": error,
    }
    return json.dumps(line, ensure_ascii=False, default=str)  # local paths as given


def _when(value: dt.datetime | None) -> str:
    return value.astimezone().strftime("%Y-%m-%d %H:%M:%S") if value else "—"


def _seconds(start: dt.datetime | None, end: dt.datetime | None) -> str:
    return f"{(end - start).total_seconds():.2f} s" if start and end else "—"


def job_details(info: JobInfo) -> Table:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    grid.add_row("job", info.id)
    grid.add_row("task", info.task)
    grid.add_row("status", status_text(info.status))
    grid.add_row("input", _compact(info.input, 200))
    if info.result is not None:
        grid.add_row("result", summarize_result(info.task, info.result))
        grid.add_row("", Text(json.dumps(info.result, ensure_ascii=False), style="dim"))
    if info.error is not None:
        grid.add_row("error", Text(f"{info.error.code}: {info.error.message}", style="red"))
    grid.add_row("created", _when(info.created_at))
    grid.add_row(
        "started",
        f"{_when(info.started_at)}  (queued {_seconds(info.created_at, info.started_at)})",
    )
    grid.add_row(
        "finished",
        f"{_when(info.finished_at)}  (ran {_seconds(info.started_at, info.finished_at)})",
    )
    grid.add_row("attempts", str(info.attempts))
    for retried in info.attempt_errors:
        grid.add_row(
            f"attempt {retried.attempt}",
            Text(f"{retried.code}: {retried.message} (retried)", style="yellow"),
        )
    return grid


def jobs_table(infos: Iterable[JobInfo]) -> Table:
    table = Table(box=None, header_style="bold")
    for name in ("id", "task", "status", "created", "result / error"):
        table.add_column(name, no_wrap=name != "result / error")
    for info in infos:
        if info.error is not None:
            summary = Text(f"{info.error.code}: {info.error.message}", style="red")
        elif info.result is not None:
            summary = Text(summarize_result(info.task, info.result))
        else:
            summary = Text("")
        table.add_row(info.id, info.task, status_text(info.status), _when(info.created_at), summary)
    return table


def _fields(task: TaskInfo) -> str:
    props = task.input_schema.get("properties") or {}
    required = set(task.required_inputs)
    parts = []
    for name, spec in props.items():
        options = spec.get("anyOf") or [spec]
        kind = " | ".join(str(o.get("format") or o.get("type") or "any") for o in options)
        parts.append(f"{name}: {kind}" + ("" if name in required else " (optional)"))
    return ", ".join(parts)


def tasks_table(tasks: Iterable[TaskInfo]) -> Table:
    table = Table(box=None, header_style="bold")
    table.add_column("task", no_wrap=True)
    table.add_column("version", no_wrap=True)
    table.add_column("queue", no_wrap=True)
    table.add_column("workers", justify="right")
    table.add_column("queued", justify="right")
    table.add_column("input")
    table.add_column("description")
    for task in tasks:
        depth = "?" if task.queue_depth is None else str(task.queue_depth)
        workers = Text("?" if task.workers is None else str(task.workers))
        if task.setup_errors:
            workers.append(f" ({len(task.setup_errors)} failed setup)", style="red")
        table.add_row(
            task.name, task.version, task.queue, workers, depth, _fields(task), task.description
        )
    return table


def outcomes_table(task: str, field: str, outcomes: Iterable[Outcome]) -> Table:
    table = Table(box=None, header_style="bold")
    table.add_column("#", justify="right")
    table.add_column(field, overflow="fold")
    table.add_column("status", no_wrap=True)
    table.add_column("result / error", overflow="fold")
    for outcome in outcomes:
        status = outcome_status(outcome)
        if outcome.error is None and outcome.job is not None:
            detail = Text(summarize_result(task, outcome.job.result))
        else:
            assert outcome.error is not None
            detail = Text(summarize_error(outcome.error), style="red")
        table.add_row(
            str(outcome.index + 1),
            str(outcome.input.get(field, _compact(outcome.input))),
            status_text(status),
            detail,
        )
    return table
