"""The job store's state machine, against a real, flushed Redis database."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
import redis

from asyncml.scheduling import JobOptions
from asyncml.schemas import JobStatus
from asyncml.store import (
    AsyncJobStore,
    BacklogFull,
    Enqueue,
    IdempotencyConflict,
    JobStore,
    StoredJob,
)
from tests.unit.conftest import URL


def create(
    payload: dict[str, object] | None = None,
    idem: tuple[str, str] | None = None,
    options: JobOptions | None = None,
) -> tuple[str, str | None]:
    async def go() -> tuple[str, str | None]:
        s = AsyncJobStore(URL, retention_s=3600)
        job_id = str(uuid.uuid4())
        try:
            earlier = await s.create(
                job_id,
                "audio.length",
                "audio",
                "alice",
                payload or {"url": "u"},
                idem,
                options=options,
            )
        finally:
            await s.close()
        return job_id, earlier if isinstance(earlier, str) else None

    return asyncio.run(go())


def test_lifecycle(store: JobStore) -> None:
    job_id, _ = create()
    stored = store.get(job_id)
    assert stored is not None and stored.job.status == JobStatus.QUEUED and stored.owner == "alice"
    assert store.start(job_id, max_attempts=3, lease_s=15).run
    assert store.succeed(job_id, {"audio_length": 1.5}) == "ok"
    done = store.get(job_id)
    assert done is not None and done.job.status == JobStatus.SUCCEEDED
    assert done.job.result == {"audio_length": 1.5} and done.job.attempts == 1
    # A redelivered message for a finished job does not run it again.
    claim = store.start(job_id, max_attempts=3, lease_s=15)
    assert (claim.outcome, claim.detail) == ("skip", "succeeded")
    # A late result cannot overwrite the first one.
    assert store.fail(job_id, "x", "y") == "succeeded"


def test_fresh_lease_blocks_a_duplicate_and_a_lapsed_one_does_not(store: JobStore) -> None:
    job_id, _ = create()
    assert store.start(job_id, 3, lease_s=30).run
    busy = store.start(job_id, 3, lease_s=30)
    assert busy.outcome == "busy" and 0 < float(busy.detail) <= 30
    assert store.renew(job_id, 0)  # the holder "died": its lease is now over
    again = store.start(job_id, 3, lease_s=30)
    assert again.run and again.detail == "2"


@pytest.mark.parametrize("skew_s", [-60, 60])
def test_leases_hold_between_workers_whose_clocks_disagree(store: JobStore, skew_s: int) -> None:
    """A worker whose clock is a minute off (either way) takes a lease that the others see
    as fresh, and sees theirs as fresh: leases run on the store's clock."""
    skewed = JobStore(URL, retention_s=3600, clock=lambda: time.time() + skew_s)
    try:
        for first, second in ((skewed, store), (store, skewed)):
            job_id, _ = create()
            assert first.start(job_id, 3, lease_s=30).run
            busy = second.start(job_id, 3, lease_s=30)
            assert busy.outcome == "busy" and 25 < float(busy.detail) <= 30, busy
            assert first.renew(job_id, 30)
            assert second.start(job_id, 3, lease_s=30).outcome == "busy"
    finally:
        skewed.redis.close()


def test_attempt_limit(store: JobStore) -> None:
    job_id, _ = create()
    for _ in range(2):
        assert store.start(job_id, 2, lease_s=0).run
    claim = store.start(job_id, 2, lease_s=0)
    assert claim.outcome == "exhausted"
    job = store.get(job_id)
    assert job is not None and job.job.status == JobStatus.FAILED
    assert job.job.error is not None and job.job.error.code == "worker_lost"


def test_cancel_wins_over_late_result(store: JobStore) -> None:
    job_id, _ = create()
    store.start(job_id, 3, 15)

    async def cancel() -> str:
        s = AsyncJobStore(URL, 3600)
        try:
            return await s.cancel(job_id)
        finally:
            await s.close()

    assert asyncio.run(cancel()) == "started"
    assert store.succeed(job_id, {"late": True}) == "canceled"
    job = store.get(job_id)
    assert job is not None and job.job.status == JobStatus.CANCELED and job.job.result is None


def test_idempotency(store: JobStore) -> None:
    first, earlier = create(idem=("k1", "hash-a"))
    assert earlier is None
    second, earlier = create(idem=("k1", "hash-a"))
    assert earlier == first and store.get(second) is None
    with pytest.raises(IdempotencyConflict):
        create(idem=("k1", "hash-b"))


def test_events_are_published(store: JobStore) -> None:
    job_id, _ = create()
    pubsub = store.redis.pubsub()
    pubsub.subscribe(f"asyncml:ev:{job_id}")
    pubsub.get_message(timeout=1)
    store.start(job_id, 3, 15)
    store.succeed(job_id, {})
    seen = [pubsub.get_message(timeout=2) for _ in range(2)]
    assert [m["data"] for m in seen if m] == [b"started", b"succeeded"]
    pubsub.close()


def test_backlog_cap_and_message_pushed_with_the_record(store: JobStore) -> None:
    async def go() -> tuple[list[str], int, str | None]:
        s = AsyncJobStore(URL, retention_s=3600)
        ids: list[str] = []
        try:
            for n in range(3):
                job_id = str(uuid.uuid4())
                push = Enqueue("audio-test", f"message-{n}".encode())
                await s.create(
                    job_id,
                    "audio.length",
                    "audio",
                    "alice",
                    {"url": "u"},
                    ("k", "fp") if n == 1 else None,
                    max_queued=2,
                    enqueue=push,
                )
                ids.append(job_id)
        except BacklogFull as exc:
            waiting = exc.waiting
        else:
            pytest.fail("the third job was accepted past the cap")
        # An idempotent replay is still answered while the queue is full, and pushes nothing.
        replay = await s.create(
            str(uuid.uuid4()),
            "audio.length",
            "audio",
            "alice",
            {"url": "u"},
            ("k", "fp"),
            max_queued=2,
            enqueue=Enqueue("audio-test", b"replayed"),
        )
        await s.close()
        return ids, waiting, replay if isinstance(replay, str) else None

    ids, waiting, replay = asyncio.run(go())
    assert len(ids) == 2 and waiting == 2 and replay == ids[1]
    assert store.redis.lrange("audio-test", 0, -1) == [b"message-1", b"message-0"]
    assert store.get(ids[0]) is not None
    # Once a job starts it no longer counts against the cap.
    assert store.start(ids[0], 3, 15).run

    async def one_more() -> StoredJob | str:
        s = AsyncJobStore(URL, retention_s=3600)
        try:
            return await s.create(
                str(uuid.uuid4()), "audio.length", "audio", "alice", {"url": "u"}, max_queued=2
            )
        finally:
            await s.close()

    assert not isinstance(asyncio.run(one_more()), str)


def test_a_create_run_twice_writes_and_pushes_once(store: JobStore) -> None:
    """A retry after a lost reply runs the script again with the same id: no second
    message, no reset of a job a worker has started meanwhile, no false replay."""
    job_id = str(uuid.uuid4())

    async def create() -> StoredJob | str:
        s = AsyncJobStore(URL, retention_s=3600)
        try:
            push = Enqueue("audio-test", b"message")
            return await s.create(
                job_id, "audio.length", "audio", "alice", {"url": "u"}, ("k", "fp"), enqueue=push
            )
        finally:
            await s.close()

    assert not isinstance(asyncio.run(create()), str)
    assert store.start(job_id, 3, 15).run
    assert not isinstance(asyncio.run(create()), str)
    assert store.redis.lrange("audio-test", 0, -1) == [b"message"]
    stored = store.get(job_id)
    assert stored is not None and stored.job.status == JobStatus.STARTED


def test_worker_scripts_survive_a_script_flush_and_a_dropped_connection(store: JobStore) -> None:
    # What a store restart does to a worker: its scripts are gone, its connections dead.
    job_id, _ = create()
    store.redis.script_flush()
    assert store.start(job_id, max_attempts=3, lease_s=15).run
    killed = redis.Redis.from_url(URL).client_kill_filter(_type="normal", skipme=True)
    assert killed >= 1  # the worker's own connection among them
    assert store.succeed(job_id, {"audio_length": 2.0}) == "ok"
    done = store.get(job_id)
    assert done is not None and done.job.result == {"audio_length": 2.0}
