"""The republisher's choices against a real Redis: which waiting jobs it examines, how
often, what it finds in a kombu Redis broker, and what it sends again."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import orjson
import pytest
import redis
from celery import Celery
from pydantic import ValidationError

from asyncml.queue.brokerview import BrokerView, redis_message_ids
from asyncml.queue.wire import redis_list
from asyncml.scheduling import JobOptions
from asyncml.settings import Settings
from asyncml.store import JobStore
from asyncml.store.keys import METRICS_KEY, queued_key, running_key
from asyncml.store.sweeps import (
    forget,
    lock_key,
    pick,
    pick_stranded,
    still_queued,
    take_turn,
)
from asyncml.worker.app import create_celery
from asyncml.worker.republish import Republisher, requeue_after
from asyncml.worker.sweeper import dispatch_claim_s
from tests.unit.conftest import URL
from tests.unit.test_store import create

KNOWN = {"audio.length": "asyncml.audio.length", "euro.results": "asyncml.euro.results"}
AFTER = 10.0


@pytest.fixture
def settings() -> Settings:
    return Settings(broker_url=URL, store_url=URL, requeue_after_s=AFTER)


@pytest.fixture
def celery(store: JobStore, settings: Settings) -> Iterator[Celery]:
    """A Celery app on a Redis broker in the unit-test database (flushed by ``store``)."""
    app = create_celery(settings)
    yield app
    app.close()


def waiting_since(client: redis.Redis, job_id: str) -> float:
    score = client.zscore(queued_key("audio"), job_id)
    assert score is not None
    return float(score)


# ---- the setting ----------------------------------------------------------------------------


def test_on_by_default_for_every_broker() -> None:
    redis_broker = Settings(
        broker_url=URL,
        store_url=URL,
        task_soft_time_limit_s=20,
        task_time_limit_s=30,
        visibility_timeout_s=60,
    )
    assert requeue_after(redis_broker) == 120.0
    assert requeue_after(Settings(broker_url=None, store_url=None)) == 360.0  # embedded
    amqp = Settings(broker_url="amqp://guest:guest@127.0.0.1//", store_url=URL)
    assert requeue_after(amqp) == 360.0
    assert requeue_after(amqp.model_copy(update={"requeue_after_s": 30.0})) == 30.0
    assert requeue_after(Settings(broker_url=URL, store_url=URL, requeue_after_s=0)) is None


@pytest.mark.parametrize("value", ["0.5", "-1", "soon", "700000"])
def test_bad_thresholds_are_refused(value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASYNCML_REQUEUE_AFTER_S", value)
    with pytest.raises(ValidationError, match=r"requeue_after_s|REQUEUE_AFTER"):
        Settings(broker_url=URL, store_url=URL)


def test_empty_threshold_means_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASYNCML_REQUEUE_AFTER_S", "")
    assert Settings(broker_url=URL, store_url=URL).requeue_after_s is None


# ---- picking --------------------------------------------------------------------------------


def test_a_job_is_picked_once_it_is_old_and_once_per_period(store: JobStore) -> None:
    job_id, _ = create()
    since = waiting_since(store.redis, job_id)
    assert pick(store.redis, "audio", since + AFTER - 1, AFTER) == []  # not old enough
    assert pick(store.redis, "audio", since + AFTER + 1, AFTER) == [job_id]
    assert pick(store.redis, "audio", since + AFTER + 2, AFTER) == []  # examined just now
    assert pick(store.redis, "audio", since + 2 * AFTER, AFTER) == []  # within the period
    assert pick(store.redis, "audio", since + 2 * AFTER + 2, AFTER) == [job_id]  # next period
    # The waiting set keeps the acceptance time: queue age and place in line stay true.
    assert waiting_since(store.redis, job_id) == since
    assert pick(store.redis, "euro", since + 10 * AFTER, AFTER) == []  # per queue


def test_started_and_finished_jobs_are_not_picked(store: JobStore) -> None:
    started, _ = create()
    finished, _ = create()
    waiting, _ = create()
    since = waiting_since(store.redis, waiting)
    assert store.start(started, max_attempts=3, lease_s=15).run
    assert store.start(finished, max_attempts=3, lease_s=15).run
    store.succeed(finished, {"audio_length": 1.0})
    assert pick(store.redis, "audio", since + AFTER + 5, AFTER) == [waiting]


def test_a_batch_does_not_starve_the_jobs_behind_it(store: JobStore) -> None:
    ids = [create()[0] for _ in range(5)]
    now = max(waiting_since(store.redis, j) for j in ids) + AFTER + 1
    first = pick(store.redis, "audio", now, AFTER, batch=2)
    second = pick(store.redis, "audio", now, AFTER, batch=2)
    third = pick(store.redis, "audio", now, AFTER, batch=2)
    assert first == ids[:2] and second == ids[2:4] and third == ids[4:]  # oldest first
    forget(store.redis, "audio", ids[:1])  # its re-send failed: examined again next pass
    assert pick(store.redis, "audio", now, AFTER, batch=2) == ids[:1]


def test_still_queued_reads_what_to_send_and_drops_expired_jobs(store: JobStore) -> None:
    queued, _ = create({"url": "http://example.com/a.wav"})
    started, _ = create()
    expired, _ = create()
    store.start(started, max_attempts=3, lease_s=15)
    store.redis.delete(f"asyncml:job:{expired}")  # its record expired while it waited
    found = still_queued(store.redis, "audio", [queued, started, expired], KNOWN)
    options = JobOptions()
    assert found == {queued: ("audio.length", {"url": "http://example.com/a.wav"}, None, options)}
    assert store.redis.zscore(queued_key("audio"), expired) is None
    assert store.redis.zscore(queued_key("audio"), queued) is not None


# ---- started jobs whose worker and message are gone -----------------------------------------


def lease_until(client: redis.Redis, job_id: str) -> float:
    return float(client.hget(f"asyncml:job:{job_id}", "lease_until") or 0)


def test_the_running_set_follows_the_state_scripts(store: JobStore) -> None:
    job_id, _ = create()
    assert store.redis.zscore(running_key("audio"), job_id) is None  # queued
    assert store.start(job_id, max_attempts=3, lease_s=15).run
    assert store.redis.zscore(running_key("audio"), job_id) is not None
    store.succeed(job_id, {"audio_length": 1.0})
    assert store.redis.zscore(running_key("audio"), job_id) is None
    exhausted, _ = create()
    assert store.start(exhausted, max_attempts=1, lease_s=0).run
    assert store.start(exhausted, max_attempts=1, lease_s=0).outcome == "exhausted"
    assert store.redis.zscore(running_key("audio"), exhausted) is None


def test_only_started_jobs_whose_lease_lapsed_long_ago_are_picked(store: JobStore) -> None:
    lapsed, _ = create()
    fresh, _ = create()
    done, _ = create()
    gone, _ = create()
    for job_id in (lapsed, fresh, done, gone):
        assert store.start(job_id, max_attempts=3, lease_s=1).run
    store.succeed(done, {"audio_length": 1.0})
    store.redis.delete(f"asyncml:job:{gone}")  # its record expired while started
    now = lease_until(store.redis, lapsed) + AFTER + 1
    store.renew(fresh, AFTER + 5)  # its worker still renews it
    assert pick_stranded(store.redis, "audio", now, AFTER) == [lapsed]
    assert pick_stranded(store.redis, "audio", now + 1, AFTER) == []  # examined: not twice
    assert store.redis.zscore(running_key("audio"), gone) is None  # cleaned up
    assert pick_stranded(store.redis, "audio", now + AFTER + 1, AFTER) == [lapsed]  # next period
    # A lease that lapsed less than AFTER ago: its worker may only be slow to renew.
    assert pick_stranded(store.redis, "audio", lease_until(store.redis, fresh) + 1, AFTER) == []


def test_a_stranded_job_is_sent_again_and_its_attempt_counted(
    store: JobStore, celery: Celery, settings: Settings
) -> None:
    stranded, _ = create({"url": "http://example.com/s.wav"})
    held, _ = create({"url": "http://example.com/h.wav"})
    for job_id in (stranded, held):
        assert store.start(job_id, max_attempts=3, lease_s=1).run
    # held's message is still unacknowledged in the broker: the visibility timeout brings it
    # back, so only stranded (no message anywhere) is sent again.
    celery.send_task("asyncml.audio.length", args=(held, {}), task_id=held, queue="audio")
    republisher = Republisher(celery, settings, ["audio"], "test@host", KNOWN)
    republisher.confirm_s = 0
    view = BrokerView(celery)
    now = lease_until(store.redis, stranded) + AFTER + 1
    try:
        assert republisher.run_stranded_pass(store.redis, view, "audio", now=now) == [stranded]
        assert republisher.run_stranded_pass(store.redis, view, "audio", now=now + 1) == []
    finally:
        view.close()
    # held went out without a priority (kombu's first list), the copy with the job's own
    queued = [
        m for key in ("audio", redis_list("audio", 0)) for m in store.redis.lrange(key, 0, -1)
    ]
    sent = [orjson.loads(m)["headers"]["id"] for m in queued]
    assert sorted(sent) == sorted([held, stranded])
    # The copy runs the job as its second attempt; at the attempt limit it ends worker_lost.
    store.renew(stranded, -1)  # (the pass above was given a clock AFTER seconds ahead)
    assert store.start(stranded, max_attempts=2, lease_s=15).detail == "2"
    assert store.redis.zscore(running_key("audio"), stranded) is not None
    store.renew(stranded, -1)  # its worker died again
    assert store.start(stranded, max_attempts=2, lease_s=15).outcome == "exhausted"
    failed = store.get(stranded)
    assert failed is not None and failed.job.error is not None
    assert (failed.job.status, failed.job.error.code) == ("failed", "worker_lost")


# ---- the broker, as a kombu Redis transport lays it out ------------------------------------


def test_messages_are_found_in_the_queue_and_while_unacknowledged(celery: Celery) -> None:
    celery.send_task("asyncml.audio.length", args=("j1", {}), task_id="j1", queue="audio")
    celery.send_task("asyncml.euro.results", args=("j2", {}), task_id="j2", queue="euro")
    with celery.connection_for_read() as conn:
        channel = conn.default_channel
        assert redis_message_ids(channel, "audio") == {"j1"}
        # Taken by a consumer, not yet acknowledged: still held (kombu's "unacked" hash).
        message = channel.basic_get("audio", no_ack=False)
        assert message is not None and message.headers["id"] == "j1"
        assert redis_message_ids(channel, "audio") == {"j1"}
        channel.basic_ack(message.delivery_tag)
        assert redis_message_ids(channel, "audio") == set()
        assert redis_message_ids(channel, "euro") == {"j2"}


def test_broker_view_names_the_jobs_without_a_message(celery: Celery) -> None:
    celery.send_task("asyncml.audio.length", args=("j1", {}), task_id="j1", queue="audio")
    view = BrokerView(celery)
    try:
        assert view.missing("audio", ["j1", "j2"]) == {"j2"}
    finally:
        view.close()


# ---- a whole pass -----------------------------------------------------------------------------


def test_a_lost_job_is_sent_again_as_the_api_sends_it(
    store: JobStore, celery: Celery, settings: Settings
) -> None:
    urgent = JobOptions(priority=9, timeout_s=3)
    lost, _ = create({"url": "http://example.com/lost.wav"}, options=urgent)
    kept, _ = create({"url": "http://example.com/kept.wav"})
    # kept's message waits in the broker (a backlog); lost's was dropped by a killed worker.
    celery.send_task("asyncml.audio.length", args=(kept, {"url": "u"}), task_id=kept, queue="audio")
    republisher = Republisher(celery, settings, ["audio", "webhooks"], "test@host", KNOWN)
    republisher.confirm_s = 0
    assert republisher.queues == ["audio"]  # webhooks have their own sweeper
    view = BrokerView(celery)
    now = waiting_since(store.redis, kept) + AFTER + 1
    try:
        assert republisher.run_pass(store.redis, view, "audio", now=now) == [lost]
        assert republisher.run_pass(store.redis, view, "audio", now=now + 1) == []
        # A period later the new message is still there: nothing is sent a second time.
        assert republisher.run_pass(store.redis, view, "audio", now=now + AFTER + 1) == []
    finally:
        view.close()
    # In the list of its priority, with its own time limits (hard, soft): as the API sent it.
    raw = store.redis.lrange(redis_list("audio", 9), 0, -1)
    messages = [orjson.loads(m) for m in raw]
    sent = next(m for m in messages if m["headers"]["id"] == lost)
    assert sent["headers"]["task"] == "asyncml.audio.length"
    assert sent["headers"]["timelimit"] == [33, 3]  # soft 3 s, then the task's 30 s of grace
    assert sent["properties"]["delivery_info"]["routing_key"] == "audio"
    body = orjson.loads(base64.b64decode(sent["body"]))
    assert body[0] == [lost, {"url": "http://example.com/lost.wav"}]
    assert len(messages) == 2
    assert store.redis.hget(METRICS_KEY, "republished|audio.length") == b"1"


def test_a_job_that_starts_meanwhile_is_not_sent(
    store: JobStore, celery: Celery, settings: Settings
) -> None:
    job_id, _ = create()
    republisher = Republisher(celery, settings, ["audio"], "test@host", KNOWN)
    republisher.confirm_s = 0
    now = waiting_since(store.redis, job_id) + AFTER + 1

    class StartsWhileLooked(BrokerView):
        def missing(self, queue: str, job_ids: object) -> set[str]:
            store.start(job_id, max_attempts=3, lease_s=15)  # its message was only slow
            return {job_id}

    assert republisher.run_pass(store.redis, StartsWhileLooked(celery), "audio", now=now) == []
    assert store.redis.llen("audio") == 0


def test_duplicates_are_harmless(store: JobStore) -> None:
    """What a needless re-send leads to: the second copy of a job never runs it again."""
    job_id, _ = create()
    assert store.start(job_id, max_attempts=3, lease_s=15).run  # the first copy
    assert store.start(job_id, max_attempts=3, lease_s=15).outcome == "busy"  # the second
    store.succeed(job_id, {"audio_length": 1.0})
    assert store.start(job_id, max_attempts=3, lease_s=15).outcome == "skip"  # after it
    stored = store.get(job_id)
    assert stored is not None and stored.job.attempts == 1


def test_passes_are_taken_by_one_worker_at_a_time(store: JobStore) -> None:
    assert take_turn(store.redis, "audio", "a@host", every=0.5)
    assert not take_turn(store.redis, "audio", "b@host", every=0.5)
    assert take_turn(store.redis, "euro", "b@host", every=0.5)  # one lock per queue
    # The lock lapses by itself after one pass interval: no release to forget.
    assert 0 < store.redis.pttl(lock_key("audio")) <= 500


def test_a_short_threshold_also_shortens_the_webhook_sweepers_wait() -> None:
    assert dispatch_claim_s(Settings(broker_url=URL, store_url=URL, requeue_after_s=2)) == 2.0
    assert dispatch_claim_s(Settings(broker_url=URL, store_url=URL)) == 60.0  # default: 360 s
    amqp = Settings(broker_url="amqp://guest:guest@127.0.0.1//", store_url=URL)
    assert dispatch_claim_s(amqp) == 60.0
    assert dispatch_claim_s(amqp.model_copy(update={"requeue_after_s": 0})) == 60.0  # off
