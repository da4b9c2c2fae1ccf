"""kombu's Redis channel as a worker patches it (asyncml.queue.patches): one client
object per channel, the unacknowledged-message bookkeeping in one script call."""

from __future__ import annotations

import json
import time

import redis
from kombu import Connection

from asyncml.queue import patches as transport
from asyncml.queue.config import celery_config
from asyncml.settings import Settings
from tests.conftest import UNIT_DB, require_service

URL = f"redis://127.0.0.1:6379/{UNIT_DB}"


def test_one_client_per_channel_until_its_pool_is_replaced() -> None:
    require_service("Redis", "127.0.0.1", 6379)
    transport.install()
    transport.install()  # idempotent
    with Connection(URL) as conn:
        channel = conn.default_channel
        with channel.conn_or_acquire() as first, channel.conn_or_acquire() as second:
            assert first is second
            assert first.ping()
        # Acknowledging still works through the shared client.
        queue = conn.SimpleQueue("asyncml-transport-test")
        queue.put({"n": 1})
        message = queue.get(timeout=5)
        # (by its own tag: another test's worker may hold messages of its own in this hash)
        assert channel.client.hexists(channel.unacked_key, message.delivery_tag)
        message.ack()
        assert not channel.client.hexists(channel.unacked_key, message.delivery_tag)
        queue.clear()
        queue.close()
        channel._pool = None  # what a reconnect does
        with channel.conn_or_acquire() as third:
            assert third is not first and third.connection_pool is channel.pool


def test_unacked_bookkeeping_matches_kombus_own_and_restores() -> None:
    """The scripted append/ack write what kombu's transaction wrote: a message held and
    not acknowledged is put back by kombu's own restore, and an ack leaves nothing."""
    require_service("Redis", "127.0.0.1", 6379)
    transport.install()
    client = redis.Redis.from_url(URL)
    client.flushdb()
    with Connection(URL) as conn:
        channel = conn.default_channel
        queue = conn.SimpleQueue("asyncml-transport-test")
        queue.put({"n": 1})
        held = queue.get(timeout=5)
        tag = held.delivery_tag
        assert client.zscore(channel.unacked_index_key, tag) is not None
        raw, exchange, routing_key = json.loads(client.hget(channel.unacked_key, tag))
        assert raw["properties"]["delivery_tag"] == tag
        assert routing_key == "asyncml-transport-test" and exchange == "asyncml-transport-test"
        # kombu's own restore (what a visibility timeout or a shutdown does) finds it.
        channel.qos.restore_by_tag(tag)
        assert client.hlen(channel.unacked_key) == 0
        again = queue.get(timeout=5)
        assert again.payload == {"n": 1}
        again.ack()
        assert client.hlen(channel.unacked_key) == 0
        assert client.zcard(channel.unacked_index_key) == 0
        # A server that lost its scripts (restarted) gets them loaded again.
        client.script_flush()
        queue.put({"n": 2})
        message = queue.get(timeout=5)
        message.ack()
        assert message.payload == {"n": 2} and client.hlen(channel.unacked_key) == 0
        queue.close()
    client.flushdb()


def test_a_restore_lock_left_by_a_dead_worker_holds_restores_off_briefly() -> None:
    """A worker that died while its sweep held the restore lock (a host lost mid-sweep):
    with the workers' transport options the lock lapses within half the visibility
    timeout, and the next sweep puts a dead worker's message back (kombu's default kept
    every sweep off for 300 s)."""
    require_service("Redis", "127.0.0.1", 6379)
    transport.install()
    client = redis.Redis.from_url(URL)
    client.flushdb()
    settings = Settings(
        broker_url=URL,
        store_url=URL,
        visibility_timeout_s=10,
        task_time_limit_s=8,
        task_soft_time_limit_s=6,
    )
    options = celery_config(settings)["broker_transport_options"]
    with Connection(URL, transport_options=options) as conn:
        channel = conn.default_channel
        queue = conn.SimpleQueue("asyncml-mutex-test")
        queue.put({"n": 1})
        held = queue.get(timeout=5)  # taken by a worker that then vanished
        client.zadd(channel.unacked_index_key, {held.delivery_tag: time.time() - 60})
        assert client.set(channel.unacked_mutex_key, "dead", nx=True, px=3000)  # what it held
        lapse = int(options["unacked_mutex_expire"])  # type: ignore[call-overload]
        assert lapse <= settings.visibility_timeout_s // 2
        client.pexpire(channel.unacked_mutex_key, lapse * 1000)
        channel.qos.restore_visible(num=10, interval=1)
        assert client.llen("asyncml-mutex-test") == 0  # the lock holds this sweep off
        deadline = time.monotonic() + 30
        while client.llen("asyncml-mutex-test") == 0 and time.monotonic() < deadline:
            time.sleep(0.2)
            channel.qos.restore_visible(num=10, interval=1)
        assert client.llen("asyncml-mutex-test") == 1, (
            f"not restored within 30 s (lock lapses after {lapse} s)"
        )
        assert lapse <= settings.visibility_timeout_s // 2
        queue.get(timeout=5).ack()
        queue.close()
    client.flushdb()
