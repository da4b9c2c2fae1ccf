"""Start deadlines and per-job time limits in the job store, against a real Redis."""

from __future__ import annotations

import asyncio
import time

import pytest
import redis.asyncio as aredis

from asyncml.metrics.recording import queued_key
from asyncml.scheduling import JobOptions
from asyncml.schemas import JobStatus
from asyncml.store import JobStore, deadlines
from tests.unit.conftest import URL
from tests.unit.test_store import create


def test_a_job_past_its_deadline_expires_instead_of_starting(store: JobStore) -> None:
    job_id, _ = create(options=JobOptions(deadline=time.time() - 1))
    claim = store.start(job_id, max_attempts=3, lease_s=15)
    assert claim.outcome == "expired" and not claim.run
    stored = store.get(job_id)
    assert stored is not None and stored.job.status == JobStatus.EXPIRED
    assert stored.job.error is not None and stored.job.error.code == "expired"
    assert stored.job.attempts == 0 and stored.job.started_at is None
    # A later copy of its message finds it ended.
    assert store.start(job_id, max_attempts=3, lease_s=15).outcome == "skip"
    assert store.redis.hget("asyncml:metrics", "expired|audio.length") == b"1"


def test_a_job_within_its_deadline_starts(store: JobStore) -> None:
    job_id, _ = create(options=JobOptions(deadline=time.time() + 60, priority=7, timeout_s=2))
    assert store.start(job_id, max_attempts=3, lease_s=15).run
    stored = store.get(job_id)
    assert stored is not None
    assert (stored.job.priority, stored.job.timeout_s) == (7, 2.0)
    assert stored.job.deadline is not None


def test_the_sweep_ends_queued_jobs_past_their_deadline_only(store: JobStore) -> None:
    now = time.time()
    late, _ = create(options=JobOptions(deadline=now + 5))
    running, _ = create(options=JobOptions(deadline=now + 5))
    later, _ = create(options=JobOptions(deadline=now + 60))
    plain, _ = create()
    assert store.start(running, max_attempts=3, lease_s=15).run  # started in time
    assert deadlines.sweep(store.redis, now=now + 1) == 0
    assert deadlines.sweep(store.redis, now=now + 6) == 1
    status = {j: store.status(j) for j in (late, running, later, plain)}
    assert status == {late: "expired", running: "started", later: "queued", plain: "queued"}
    # Swept entries leave the set; the later one waits for its time.
    assert store.redis.zrange("asyncml:deadlines", 0, -1) == [later.encode()]
    assert store.redis.zscore(queued_key("audio"), late) is None
    assert store.redis.zscore(queued_key("audio"), later) is not None


@pytest.mark.parametrize(
    ("timeout_s", "expected"),
    [(None, None), (3, (3, 33)), (200, (120, 150)), (119.5, (119.5, 150))],
)
def test_a_jobs_own_time_limits(timeout_s: float | None, expected: object) -> None:
    assert JobOptions(timeout_s=timeout_s).time_limits(120, 150) == expected


def test_the_api_sweeps_with_its_asyncio_client(store: JobStore) -> None:
    job_id, _ = create(options=JobOptions(deadline=time.time() - 1))

    async def sweep() -> int:
        client = aredis.Redis.from_url(URL)
        try:
            return await deadlines.asweep(client)
        finally:
            await client.aclose()

    assert asyncio.run(sweep()) == 1
    assert store.status(job_id) == "expired"
