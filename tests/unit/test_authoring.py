"""The Context a task gets: progress coalesced, cancel checks throttled, the egress client."""

from __future__ import annotations

import time

import pytest

from asyncml.authoring import PROGRESS_EVERY_S, Context
from asyncml.errors import DestinationNotAllowedError
from asyncml.net import Egress, EgressPolicy


def _context(**kwargs: object) -> Context:
    return Context("job-1", egress=Egress(EgressPolicy()), **kwargs)  # type: ignore[arg-type]


def test_progress_in_a_tight_loop_reaches_the_store_a_few_times_only() -> None:
    sent: list[tuple[float, float | None, str | None]] = []
    ctx = _context(progress=lambda done, total, message: sent.append((done, total, message)))
    start = time.monotonic()
    for i in range(200_000):
        ctx.progress(i, total=200_000)
    ctx.progress(200_000, total=200_000, message="done")
    elapsed = time.monotonic() - start
    # The first report goes at once, then at most one per interval, and the final one always.
    assert sent[0] == (0, 200_000, None)
    assert sent[-1] == (200_000, 200_000, "done")
    assert len(sent) <= 2 + elapsed / PROGRESS_EVERY_S


def test_cancelled_asks_the_store_at_most_twice_a_second() -> None:
    asked: list[float] = []

    def is_cancelled() -> bool:
        asked.append(time.monotonic())
        return len(asked) >= 2

    ctx = _context(is_cancelled=is_cancelled)
    assert [ctx.cancelled for _ in range(10_000)].count(True) == 0
    assert len(asked) == 1
    deadline = time.monotonic() + 5
    while not ctx.cancelled:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert len(asked) == 2 and ctx.cancelled  # once seen, it stays true without asking


def test_fetch_goes_through_the_egress_policy() -> None:
    ctx = _context()
    with pytest.raises(DestinationNotAllowedError):
        ctx.fetch("http://127.0.0.1:9/secret")
    with pytest.raises(RuntimeError, match="no cache"):
        _ = ctx.cache
    ctx.log.info("a line with the job id")  # the adapter carries job_id
