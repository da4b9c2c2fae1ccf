"""The event log and the webhook outbox, written by the job store's state changes, and the
delivery claims the webhooks workers make on it, against a real, flushed Redis database."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from asyncml.store import AsyncJobStore, JobStore
from asyncml.store.deliveries import DeliveryStore, read_log, redeliver
from asyncml.store.effects import WebhookTarget
from asyncml.store.keys import WEBHOOK_KICK_CHANNEL, delivery_key, event_log_key
from tests.integration.stack import wait_for
from tests.unit.conftest import URL


def run(fn: Any, *args: Any) -> Any:
    async def go() -> Any:
        s = AsyncJobStore(URL, retention_s=3600)
        try:
            return await fn(s, *args)
        finally:
            await s.close()

    return asyncio.run(go())


def create(webhook: WebhookTarget | None = None) -> str:
    job_id = str(uuid.uuid4())

    async def make(s: AsyncJobStore) -> None:
        await s.create(job_id, "audio.length", "audio", "alice", {"url": "u"}, None, webhook)

    run(make)
    return job_id


def events(store: JobStore, job_id: str) -> list[str]:
    return [f[b"status"].decode() for _, f in store.redis.xrange(event_log_key(job_id))]


def dispatch(deliveries: DeliveryStore, attempts: int = 5) -> list[tuple[str, int]]:
    due, _ = deliveries.dispatch(batch=100, claim_s=30, attempts=attempts)
    return due


def test_every_state_change_is_logged_and_expires_with_the_job(store: JobStore) -> None:
    job_id = create()
    assert store.start(job_id, max_attempts=3, lease_s=15).run
    store.succeed(job_id, {"audio_length": 1.0})
    assert events(store, job_id) == ["queued", "started", "succeeded"]
    ttl = store.redis.ttl(event_log_key(job_id))
    assert 3500 < ttl <= 3600
    # No webhook: nothing in the outbox.
    assert dispatch(DeliveryStore(store.redis)) == []


def test_completion_is_delivered_once_through_claims(store: JobStore) -> None:
    deliveries = DeliveryStore(store.redis)
    job_id = create(WebhookTarget("http://127.0.0.1:1/hook"))
    member = f"{job_id}:completed"
    pubsub = store.redis.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(WEBHOOK_KICK_CHANNEL)
    store.start(job_id, max_attempts=3, lease_s=15)
    assert dispatch(deliveries) == []  # "started" is not wanted
    store.succeed(job_id, {"audio_length": 1.0})
    kick = wait_for(lambda: pubsub.get_message(timeout=0.1), 5, "the outbox kick")
    assert kick["data"] == member.encode()
    assert dispatch(deliveries) == [(member, 1)]
    assert dispatch(deliveries) == []  # claimed: a second sweeper gets nothing
    claimed = deliveries.begin(member, 1, claim_s=30)
    assert claimed is not None and claimed.event == "completed" and claimed.status == "succeeded"
    assert deliveries.begin(member, 1, claim_s=30) is None  # a duplicate message
    assert store.get(job_id).job.webhook_status == "delivering"  # type: ignore[union-attr]
    entry = {"event": "completed", "webhook_id": "w", "attempt": 1, "at": 0, "outcome": "retrying"}
    assert deliveries.finish(claimed, "retrying", entry, 0.2)
    assert not deliveries.finish(claimed, "succeeded", entry, None)  # no longer its claim
    assert store.get(job_id).job.webhook_status == "pending"  # type: ignore[union-attr]
    assert dispatch(deliveries) == []  # not due yet
    assert wait_for(lambda: dispatch(deliveries), 5, "the retry") == [(member, 2)]
    assert deliveries.begin(member, 1, claim_s=30) is None  # a stale attempt
    second = deliveries.begin(member, 2, claim_s=30)
    assert second is not None and second.step == 1
    deliveries.finish(second, "succeeded", entry | {"attempt": 2, "outcome": "succeeded"}, None)
    assert store.get(job_id).job.webhook_status == "succeeded"  # type: ignore[union-attr]
    assert store.redis.zscore("asyncml:wh:due", member) is None
    log = run(lambda s: read_log(s.redis, job_id))
    assert [(e.attempt, e.outcome) for e in log] == [(1, "retrying"), (2, "succeeded")]
    pubsub.close()


def test_a_sender_that_dies_mid_attempt_is_not_stranded(store: JobStore) -> None:
    deliveries = DeliveryStore(store.redis)
    job_id = create(WebhookTarget("http://127.0.0.1:1/hook"))
    store.start(job_id, max_attempts=3, lease_s=15)
    store.fail(job_id, "download_failed", "nope")
    member = f"{job_id}:completed"
    assert dispatch(deliveries, attempts=2) == [(member, 1)]
    assert deliveries.begin(member, 1, claim_s=0.1) is not None  # ...and its process dies
    again = wait_for(lambda: dispatch(deliveries, attempts=2), 5, "the lapsed claim")
    assert again == [(member, 2)]
    assert deliveries.begin(member, 2, claim_s=0.1) is not None  # and dies again
    wait_for(
        lambda: (
            store.redis.hget(delivery_key(member), "state") == b"failed"
            or dispatch(deliveries, attempts=2)
        ),
        5,
        "the schedule to run out",
    )
    assert store.redis.hget(delivery_key(member), "state") == b"failed"
    assert store.get(job_id).job.webhook_status == "failed"  # type: ignore[union-attr]
    log = run(lambda s: read_log(s.redis, job_id))
    assert [(e.attempt, e.outcome) for e in log] == [(1, "retrying"), (2, "failed")]
    assert all("worker stopped" in (e.error or "") for e in log)


def test_redeliver_and_one_started_event_per_job(store: JobStore) -> None:
    deliveries = DeliveryStore(store.redis)
    job_id = create(WebhookTarget("http://127.0.0.1:1/hook", ("started", "completed")))
    store.start(job_id, max_attempts=3, lease_s=0)
    # A redelivered task starts the job a second time: still one "started" delivery.
    assert store.start(job_id, max_attempts=3, lease_s=15).run
    assert events(store, job_id) == ["queued", "started", "started"]
    assert dispatch(deliveries) == [(f"{job_id}:started", 1)]
    store.succeed(job_id, {})
    member = f"{job_id}:completed"
    assert dispatch(deliveries) == [(member, 1)]
    assert run(lambda s: redeliver(s.redis, job_id)) == "busy"
    claimed = deliveries.begin(member, 1, claim_s=30)
    assert claimed is not None
    deliveries.finish(claimed, "failed", {"event": "completed"}, None)
    assert run(lambda s: redeliver(s.redis, job_id)) == "ok"
    assert store.get(job_id).job.webhook_status == "pending"  # type: ignore[union-attr]
    assert dispatch(deliveries) == [(member, 2)]
    assert store.redis.hget(delivery_key(member), "step") == b"0"


def test_cancel_before_start_with_only_started_wanted(store: JobStore) -> None:
    job_id = create(WebhookTarget("http://127.0.0.1:1/hook", ("started",)))
    assert run(lambda s: s.cancel(job_id)) == "queued"
    assert events(store, job_id) == ["queued", "canceled"]
    assert store.get(job_id).job.webhook_status == "none"  # type: ignore[union-attr]
    assert run(lambda s: redeliver(s.redis, job_id)) == "none"
    assert dispatch(DeliveryStore(store.redis)) == []


def test_an_unrun_message_is_sent_again_with_a_longer_claim(store: JobStore) -> None:
    deliveries = DeliveryStore(store.redis)
    job_id = create(WebhookTarget("http://127.0.0.1:1/hook"))
    store.start(job_id, max_attempts=3, lease_s=15)
    store.succeed(job_id, {})
    member = f"{job_id}:completed"

    def dispatched() -> list[tuple[str, int]]:
        return deliveries.dispatch(batch=10, claim_s=0.05, attempts=3)[0]

    assert dispatched() == [(member, 1)]  # claimed for 0.05 s
    for _ in range(2):  # its message never runs: sent again, claimed 0.1 s, then 0.2 s
        assert wait_for(dispatched, 5, "the lapsed claim") == [(member, 1)]
    seconds, micros = store.redis.time()
    score = store.redis.zscore("asyncml:wh:due", member)
    assert score is not None and score - (seconds + micros / 1e6) > 0.15
    assert store.redis.hget(delivery_key(member), "dispatches") == b"3"
    # When a copy runs, the count starts over for the next attempt.
    assert deliveries.begin(member, 1, claim_s=30) is not None
    assert store.redis.hget(delivery_key(member), "dispatches") == b"0"
