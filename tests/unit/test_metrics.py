"""Job metrics recorded where the job store changes state, rendered as Prometheus text;
queue sets and worker heartbeats. Against a real, flushed Redis database."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

from prometheus_client import CollectorRegistry

from asyncml.metrics import arecord_webhook_failure, record_webhook_failure
from asyncml.metrics.exposition import queue_families, render, store_families
from asyncml.metrics.queues import (
    HEARTBEAT_TTL_S,
    beat,
    leave,
    queue_position,
    read_queue_stats,
    workers_key,
)
from asyncml.metrics.recording import METRICS_KEY, PREFIX, record_expired
from asyncml.store import PREFIX as STORE_PREFIX
from asyncml.store import AsyncJobStore, JobStore
from tests.prometheus import Samples, parse, value
from tests.unit.conftest import URL

TASKS = ["audio.length", "euro.results"]
QUEUES = ["audio", "euro"]


def run(coro: Any) -> Any:
    return asyncio.run(coro)


async def _with_async(fn: Any) -> Any:
    s = AsyncJobStore(URL, retention_s=3600)
    try:
        return await fn(s)
    finally:
        await s.close()


def create(task: str = "audio.length", queue: str = "audio") -> str:
    job_id = str(uuid.uuid4())
    run(_with_async(lambda s: s.create(job_id, task, queue, "alice", {"x": 1})))
    return job_id


def scrape() -> Samples:
    async def go(s: AsyncJobStore) -> bytes:
        raw = await s.redis.hgetall(METRICS_KEY)
        stats = await read_queue_stats(s.redis, QUEUES, 3600)
        families = store_families(raw, TASKS) + queue_families(stats, {"audio": None})
        return render(CollectorRegistry(), families)

    text: bytes = run(_with_async(go))
    return parse(text.decode())


def test_prefix_matches_the_store() -> None:
    assert PREFIX == STORE_PREFIX


def test_every_state_change_counts_once(store: JobStore) -> None:
    a1, a2, a3 = create(), create(), create()
    e1 = create("euro.results", "euro")
    positions = [
        run(_with_async(lambda s, j=j: queue_position(s.redis, "audio", j))) for j in (a1, a2, a3)
    ]
    assert positions == [0, 1, 2]
    assert store.start(a1, 3, 15).run and store.succeed(a1, {"ok": 1}) == "ok"
    assert store.start(a1, 3, 15).outcome == "skip"  # a redelivery counts nothing
    assert store.succeed(a1, {"late": 1}) == "succeeded"  # nor does a late result
    assert store.start(a2, 3, 15).run and store.fail(a2, "download_failed", "404") == "ok"
    assert run(_with_async(lambda s: s.cancel(a3))) == "queued"
    assert run(_with_async(lambda s: queue_position(s.redis, "audio", a3))) is None

    m = scrape()
    assert value(m, "asyncml_jobs_submitted_total", task="audio.length") == 3
    assert value(m, "asyncml_jobs_submitted_total", task="euro.results") == 1
    for outcome, count in [("succeeded", 1), ("failed", 1), ("canceled", 1)]:
        assert (
            value(m, "asyncml_jobs_finished_total", task="audio.length", outcome=outcome) == count
        )
    assert value(m, "asyncml_jobs_finished_total", task="euro.results", outcome="failed") == 0
    assert value(m, "asyncml_job_queue_wait_seconds_count", task="audio.length") == 2
    assert value(m, "asyncml_job_run_seconds_count", task="audio.length") == 2
    assert value(m, "asyncml_job_run_seconds_count", task="euro.results") == 0
    inf = value(m, "asyncml_job_run_seconds_bucket", task="audio.length", le="+Inf")
    assert inf == 2
    assert value(m, "asyncml_queue_waiting_jobs", queue="audio") == 0
    assert value(m, "asyncml_queue_waiting_jobs", queue="euro") == 1
    assert (value(m, "asyncml_queue_oldest_job_age_seconds", queue="euro") or 0) >= 0
    assert value(m, "asyncml_queue_oldest_job_age_seconds", queue="audio") == 0
    assert value(m, "asyncml_queue_depth", queue="audio") is None  # the broker did not say
    assert run(_with_async(lambda s: queue_position(s.redis, "euro", e1))) == 0


def test_attempts_used_up_count_as_failed_without_a_run_time(store: JobStore) -> None:
    job_id = create()
    assert store.start(job_id, 1, lease_s=0).run
    assert store.start(job_id, 1, lease_s=0).outcome == "exhausted"
    m = scrape()
    assert value(m, "asyncml_jobs_finished_total", task="audio.length", outcome="failed") == 1
    assert value(m, "asyncml_job_queue_wait_seconds_count", task="audio.length") == 1
    assert value(m, "asyncml_job_run_seconds_count", task="audio.length") == 0


def test_a_discarded_job_is_a_publish_failure(store: JobStore) -> None:
    job_id = create()
    run(_with_async(lambda s: s.discard(job_id, "alice", None)))
    m = scrape()
    assert value(m, "asyncml_jobs_publish_failures_total", task="audio.length") == 1
    assert value(m, "asyncml_queue_waiting_jobs", queue="audio") == 0


def test_webhook_failures_and_expired_jobs(store: JobStore) -> None:
    record_webhook_failure(store.redis, reason="HTTP 503")
    record_webhook_failure(store.redis, reason="timeout", final=True)

    async def from_api(s: AsyncJobStore) -> None:
        await arecord_webhook_failure(s.redis, reason="timeout")

    run(_with_async(from_api))
    record_expired(store.redis, "euro.results")
    m = scrape()
    assert value(m, "asyncml_webhook_delivery_failures_total", reason="http_503") == 1
    assert value(m, "asyncml_webhook_delivery_failures_total", reason="timeout") == 2
    assert value(m, "asyncml_webhook_deliveries_abandoned_total") == 1
    assert value(m, "asyncml_jobs_expired_total", task="euro.results") == 1
    assert value(m, "asyncml_jobs_expired_total", task="audio.length") == 0


def test_republished_tasks_are_counted(store: JobStore) -> None:
    # The republisher counts in the metrics hash (asyncml.worker.republish).
    store.redis.hincrby(METRICS_KEY, "republished|audio.length", 2)
    m = scrape()
    assert value(m, "asyncml_jobs_republished_total", task="audio.length") == 2


def test_buckets_no_longer_configured_fold_into_the_next_one_up() -> None:
    raw = {
        b"run|audio.length|0.3": b"2",  # not a configured bound: lands in le=0.5
        b"run|audio.length|0.5": b"1",
        b"run|audio.length|+Inf": b"1",
        b"run|audio.length|sum": b"1000.5",
    }
    m = parse(render(CollectorRegistry(), store_families(raw, ["audio.length"])).decode())
    assert value(m, "asyncml_job_run_seconds_bucket", task="audio.length", le="0.25") == 0
    assert value(m, "asyncml_job_run_seconds_bucket", task="audio.length", le="0.5") == 3
    assert value(m, "asyncml_job_run_seconds_bucket", task="audio.length", le="300.0") == 3
    assert value(m, "asyncml_job_run_seconds_bucket", task="audio.length", le="+Inf") == 4
    assert value(m, "asyncml_job_run_seconds_count", task="audio.length") == 4
    assert value(m, "asyncml_job_run_seconds_sum", task="audio.length") == 1000.5


def test_heartbeats_count_live_workers(store: JobStore) -> None:
    beat(store.redis, "audio-1@host-a", ["audio"], 4)
    beat(store.redis, "audio-2@host-b", ["audio", "euro"], 2)
    stale = time.time() - HEARTBEAT_TTL_S - 1
    store.redis.zadd(workers_key("audio"), {"audio-3@gone|8": stale})
    m = scrape()
    assert value(m, "asyncml_queue_workers", queue="audio") == 2
    assert value(m, "asyncml_queue_worker_processes", queue="audio") == 6
    assert value(m, "asyncml_queue_workers", queue="euro") == 1
    leave(store.redis, "audio-2@host-b", ["audio", "euro"], 2)
    m = scrape()
    assert value(m, "asyncml_queue_workers", queue="audio") == 1
    assert value(m, "asyncml_queue_workers", queue="euro") == 0


def test_batch_sizes_show_only_for_batched_tasks(store: JobStore) -> None:
    from asyncml.metrics.recording import record_batch

    for size in (1, 5, 32, 100):
        record_batch(store.redis, "text.embed", size)
    m = parse(
        render(
            CollectorRegistry(), store_families(store.redis.hgetall(METRICS_KEY), TASKS)
        ).decode()
    )
    assert value(m, "asyncml_batch_size_bucket", task="text.embed", le="1.0") == 1
    assert value(m, "asyncml_batch_size_bucket", task="text.embed", le="8.0") == 2
    assert value(m, "asyncml_batch_size_bucket", task="text.embed", le="32.0") == 3
    assert value(m, "asyncml_batch_size_bucket", task="text.embed", le="+Inf") == 4
    assert value(m, "asyncml_batch_size_sum", task="text.embed") == 138
    series = [labels for name, labels in m if name.startswith("asyncml_batch_size")]
    assert series and all(("task", "text.embed") in labels for labels in series)
