"""The API's Redis pool against a real Redis: a crowd waits for a connection, and only a
wait that outlasts its bound is refused, as overload rather than an outage."""

from __future__ import annotations

import asyncio
import time

import pytest
import redis

from asyncml.store.connections import PoolExhaustedError, async_redis
from tests.conftest import require_service
from tests.unit.conftest import URL


@pytest.fixture(autouse=True)
def _redis() -> None:
    require_service("Redis", "127.0.0.1", 6379)


def test_more_commands_than_connections_wait_their_turn() -> None:
    async def crowd() -> list[bytes]:
        client = async_redis(URL, max_connections=2, wait_s=10)
        try:
            # redis-py's own pool refused the third of these at once (Too many connections).
            return await asyncio.gather(*(client.echo(f"{n}") for n in range(50)))
        finally:
            await client.aclose()

    assert asyncio.run(crowd()) == [f"{n}".encode() for n in range(50)]


def test_a_pool_busy_for_the_whole_wait_is_exhausted_not_unreachable() -> None:
    async def starved() -> float:
        client = async_redis(URL, max_connections=2, wait_s=0.3)
        try:
            held = [await client.connection_pool.get_connection() for _ in range(2)]
            t0 = time.monotonic()
            with pytest.raises(PoolExhaustedError, match="all 2 store connections") as caught:
                await client.ping()
            waited = time.monotonic() - t0
            assert isinstance(caught.value, redis.ConnectionError)
            for connection in held:
                await client.connection_pool.release(connection)
            assert await client.ping()  # and it serves again once they are back
            return waited
        finally:
            await client.aclose()

    assert 0.25 < asyncio.run(starved()) < 10  # waited its 0.3 s, then gave up


def test_an_unreachable_server_is_a_connection_error_not_exhaustion() -> None:
    async def unreachable() -> None:
        client = async_redis("redis://127.0.0.1:1/0", max_connections=2, wait_s=5)
        try:
            with pytest.raises(redis.ConnectionError) as caught:
                await client.ping()
            assert not isinstance(caught.value, PoolExhaustedError)
        finally:
            await client.aclose()

    asyncio.run(unreachable())
