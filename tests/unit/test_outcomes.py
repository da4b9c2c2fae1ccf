"""Outcome counts per task, read from the metrics hash the store's scripts write."""

from __future__ import annotations

from asyncml.metrics.outcomes import outcomes_from


def test_counts_per_task_with_a_zero_row_for_known_tasks() -> None:
    raw = {
        b"submitted|audio.length": b"5",
        b"finished|audio.length|succeeded": b"3",
        b"finished|audio.length|failed": b"1",
        b"finished|euro.results|canceled": b"2",
        b"expired|euro.results": b"4",  # what a worker counts for a record gone by retention
        b"wait|audio.length|0.5": b"4",  # histograms are not outcomes
        b"webhook_abandoned": b"1",
    }
    rows = {r.task: r for r in outcomes_from(raw, ["audio.length", "audio.gender"])}
    assert list(rows) == ["audio.gender", "audio.length", "euro.results"]
    length = rows["audio.length"]
    assert (length.submitted, length.succeeded, length.failed, length.canceled) == (5, 3, 1, 0)
    assert rows["audio.gender"].model_dump() == {
        "task": "audio.gender",
        "submitted": 0,
        "succeeded": 0,
        "failed": 0,
        "canceled": 0,
        "expired": 0,
    }
    assert rows["euro.results"].canceled == 2
    assert rows["euro.results"].expired == 4 and length.expired == 0
