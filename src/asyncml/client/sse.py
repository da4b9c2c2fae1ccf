"""Server-sent events: a line decoder, and how job events update a job's last known state."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from asyncml.client.models import JobInfo, JobStatus


@dataclass(frozen=True)
class ServerSentEvent:
    event: str
    data: str
    id: str | None = None


class SSEDecoder:
    """Feed it lines (without their line ending); it hands back each complete event."""

    def __init__(self) -> None:
        self._event = ""
        self._data: list[str] = []
        self._id: str | None = None
        self.last_event_id: str | None = None

    def feed(self, line: str) -> ServerSentEvent | None:
        line = line.rstrip("\r\n")
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return None  # a comment, e.g. a heartbeat
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "event":
            self._event = value
        elif name == "data":
            self._data.append(value)
        elif name == "id" and "\0" not in value:
            self._id = value
        return None

    def _dispatch(self) -> ServerSentEvent | None:
        if self._id is not None:
            self.last_event_id = self._id
        if not self._data:
            self._event, self._id = "", None
            return None
        event = ServerSentEvent(self._event or "message", "\n".join(self._data), self._id)
        self._event, self._data, self._id = "", [], None
        return event


def apply_event(current: JobInfo, event: ServerSentEvent) -> JobInfo:
    """The job's state after ``event``: a full job replaces it, a partial one updates it."""
    try:
        data: Any = json.loads(event.data)
    except ValueError:
        return current
    if not isinstance(data, dict):
        return current
    # Some servers wrap the job: {"type": "...", "job": {...}} or {"data": {...}}.
    for key in ("job", "data"):
        if isinstance(data.get(key), dict) and "status" in data[key]:
            data = data[key]
            break
    status = data.get("status")
    if status is None and event.event in set(JobStatus):
        status = event.event
    if status not in set(JobStatus):
        return current
    return JobInfo.from_json({**current.raw, **data, "status": status})


class StatusChanges:
    """Passes on a job state only when its status differs from the last one passed on."""

    def __init__(self) -> None:
        self.last: JobStatus | None = None

    def __call__(self, info: JobInfo) -> Iterator[JobInfo]:
        if info.status != self.last:
            self.last = info.status
            yield info
