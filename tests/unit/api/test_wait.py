"""The long-poll behind ``GET /v1/jobs/{id}?wait=N``: a state change notified while the
job is being read must still end the wait (no lost wake-up)."""

from __future__ import annotations

import asyncio
import datetime as dt
import time

from asyncml.api.jobs import JobService
from asyncml.api.notify import Notifier
from asyncml.schemas import Job, JobStatus
from asyncml.store import StoredJob


class FinishesWhileRead:
    """A store whose job finishes, and is notified, during the first read of it."""

    def __init__(self, notifier: Notifier) -> None:
        self.notifier = notifier
        self.reads = 0
        now = dt.datetime.now(dt.UTC)
        self.job = Job(
            id="j1",
            task="audio.length",
            status=JobStatus.STARTED,
            input={"url": "https://example.com/a.wav"},
            created_at=now,
            expires_at=now + dt.timedelta(days=2),
        )

    async def get(self, job_id: str) -> StoredJob:
        self.reads += 1
        seen = self.job
        if self.reads == 1:
            self.job = self.job.model_copy(update={"status": JobStatus.SUCCEEDED})
            self.notifier._wake_all()  # the worker's notification arrives mid-read
        return StoredJob(job=seen, owner="public", queue="audio")


def test_a_change_notified_during_the_read_ends_the_wait() -> None:
    async def scenario() -> tuple[Job, float, int]:
        notifier = Notifier(client=None)  # type: ignore[arg-type]
        notifier.connected = True
        store = FinishesWhileRead(notifier)
        service = JobService(store, broker=None, notifier=notifier)  # type: ignore[arg-type]
        started = time.monotonic()
        job = await service.wait("j1", "public", timeout=10)
        return job, time.monotonic() - started, store.reads

    job, seconds, reads = asyncio.run(scenario())
    assert job.status is JobStatus.SUCCEEDED and reads == 2
    # Missing the notification would sleep out the whole 10 s wait.
    assert seconds < 8, f"the wait missed the notification and slept {seconds:.1f}s"
