"""Jobs submitted and finished per task, read from the store's metrics hash as JSON.

The same counters ``GET /metrics`` exports (``submitted|<task>``, ``finished|<task>|<status>``
and ``expired|<task>``, written by ``asyncml.metrics.recording``), for clients that want
numbers rather than Prometheus text: the browser console shows recent completions and
failures from them. A job expires when its record's retention runs out before a worker
runs it: the worker that then gets its message counts it in ``expired|<task>`` (no state
script runs for a record that is gone), so that is the count given as ``expired``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from asyncml.metrics.recording import METRICS_KEY
from asyncml.schemas import TaskOutcomes

_FINISHED = ("succeeded", "failed", "canceled")


def outcomes_from(raw: Mapping[Any, Any], tasks: Iterable[str]) -> list[TaskOutcomes]:
    """One row per task (every one of ``tasks``, and any other the counters name), by name."""
    counts: dict[str, dict[str, int]] = {task: {} for task in tasks}
    for key, value in raw.items():
        kind, *labels = (key.decode() if isinstance(key, bytes) else key).split("|")
        if kind == "submitted" and len(labels) == 1:
            counts.setdefault(labels[0], {})["submitted"] = int(float(value))
        elif kind == "finished" and len(labels) == 2 and labels[1] in _FINISHED:
            counts.setdefault(labels[0], {})[labels[1]] = int(float(value))
        elif kind == "expired" and len(labels) == 1:
            counts.setdefault(labels[0], {})["expired"] = int(float(value))
    return [TaskOutcomes(task=task, **counts[task]) for task in sorted(counts)]


async def read_outcomes(client: Any, tasks: Iterable[str]) -> list[TaskOutcomes]:
    return outcomes_from(await client.hgetall(METRICS_KEY), tasks)
