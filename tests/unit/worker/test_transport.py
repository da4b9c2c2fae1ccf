"""kombu's Redis channel as a worker patches it (asyncml.worker.transport): one client
object per channel, the unacknowledged-message bookkeeping in one script call."""

from __future__ import annotations

import json

import redis
from kombu import Connection

from asyncml.worker import transport
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
