"""kombu's Redis channel keeps one client object (asyncml.worker.transport)."""

from __future__ import annotations

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
        message.ack()
        assert channel.client.hlen(channel.unacked_key) == 0
        queue.clear()
        queue.close()
        channel._pool = None  # what a reconnect does
        with channel.conn_or_acquire() as third:
            assert third is not first and third.connection_pool is channel.pool
