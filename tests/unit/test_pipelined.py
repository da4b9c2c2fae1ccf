"""The API's pipelined store connection, against the real Redis (and a silent server),
under both event loops the API may run on: asyncio's own and uvloop (uvicorn's)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
import redis
import uvloop
from redis.exceptions import NoScriptError, ResponseError

from asyncml.store.pipelined import PipelinedConnection
from tests.unit.conftest import URL, require_service

LOOPS: dict[str, Callable[[Awaitable[Any]], Any]] = {
    "asyncio": asyncio.run,
    "uvloop": uvloop.run,
}


@pytest.fixture(params=sorted(LOOPS))
def run(request: pytest.FixtureRequest) -> Iterator[Callable[[Awaitable[Any]], Any]]:
    require_service("Redis", "127.0.0.1", 6379)
    redis.Redis.from_url(URL).flushdb()
    yield LOOPS[request.param]
    redis.Redis.from_url(URL).flushdb()


def test_concurrent_commands_each_get_their_own_reply(run: Callable[..., Any]) -> None:
    async def scenario() -> list[Any]:
        connection = PipelinedConnection(URL)
        try:
            await connection.execute("HSET", "h", "a", 1, "b", b"\xff")
            replies = await asyncio.gather(
                *(connection.execute("ECHO", f"n{i}") for i in range(200)),
                connection.execute("HGETALL", "h"),
                connection.execute("HGETALL", "missing"),
            )
        finally:
            await connection.close()
        return replies

    replies = run(scenario())
    assert replies[:200] == [f"n{i}".encode() for i in range(200)]
    assert replies[200] == [b"a", b"1", b"b", b"\xff"] and replies[201] == []


def test_the_url_database_is_selected(run: Callable[..., Any]) -> None:
    async def scenario() -> None:
        connection = PipelinedConnection(URL)
        await connection.execute("SET", "where", "here")
        await connection.close()

    run(scenario())
    assert redis.Redis.from_url(URL).get("where") == b"here"


def test_error_replies_raise(run: Callable[..., Any]) -> None:
    async def scenario() -> None:
        connection = PipelinedConnection(URL)
        try:
            with pytest.raises(NoScriptError):
                await connection.execute("EVALSHA", "0" * 40, 0)
            with pytest.raises(ResponseError, match="unknown command"):
                await connection.execute("NO-SUCH-COMMAND")
            assert await connection.execute("PING") == b"PONG"  # the connection goes on
        finally:
            await connection.close()

    run(scenario())


def test_a_killed_connection_is_replaced_and_the_command_sent_again(
    run: Callable[..., Any],
) -> None:
    async def scenario() -> Any:
        connection = PipelinedConnection(URL)
        try:
            await connection.execute("CLIENT", "SETNAME", "asyncml-pipelined-test")
            first = connection._protocol
            assert first is not None
            killed = redis.Redis.from_url(URL).client_kill_filter(_type="normal", skipme=True)
            assert killed >= 1
            deadline = asyncio.get_running_loop().time() + 5
            while first.lost is None:  # the close reaches the protocol
                assert asyncio.get_running_loop().time() < deadline, "the kill was not seen"
                await asyncio.sleep(0.01)
            reply = await connection.execute("PING")
            assert connection._protocol is not first  # a new connection answered
            return reply
        finally:
            await connection.close()

    assert run(scenario()) == b"PONG"


def test_no_server_is_a_connection_error(run: Callable[..., Any]) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once closed

    async def scenario() -> None:
        connection = PipelinedConnection(f"redis://127.0.0.1:{port}/0")
        with pytest.raises(redis.ConnectionError):
            await connection.execute("PING")

    run(scenario())


def test_a_silent_server_times_out_and_the_next_command_reconnects(
    run: Callable[..., Any],
) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        port = listener.getsockname()[1]

        async def scenario() -> None:
            connection = PipelinedConnection(f"redis://127.0.0.1:{port}/0", timeout=0.2)
            for _ in range(2):
                with pytest.raises(redis.TimeoutError):
                    await connection.execute("PING")
            await connection.close()

        run(scenario())
        accepted = 0
        listener.settimeout(1)
        for _ in range(2):
            conn, _ = listener.accept()
            conn.close()
            accepted += 1
    assert accepted == 2  # a fresh connection after the timeout, not a reply out of turn


def test_after_a_failed_connect_waiting_commands_fail_at_once(run: Callable[..., Any]) -> None:
    """A store cut off (connects run into their timeout): ten concurrent commands cost one
    connect attempt, not ten in a row (each waiting for the one before: answers later and
    later); after ``FAIL_FAST_S`` a command tries again."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        port = listener.getsockname()[1]

        async def scenario() -> list[BaseException | None]:
            # Database 1: the connect sends SELECT, which the silent server never answers.
            connection = PipelinedConnection(f"redis://127.0.0.1:{port}/1", connect_timeout=0.3)
            calls = [connection.execute("PING") for _ in range(10)]
            outcomes = await asyncio.gather(*calls, return_exceptions=True)
            await asyncio.sleep(1.1)  # FAIL_FAST_S has passed: the next command connects
            with pytest.raises(redis.ConnectionError):
                await connection.execute("PING")
            await connection.close()
            return [o if isinstance(o, BaseException) else None for o in outcomes]

        outcomes = run(scenario())
        listener.settimeout(0.5)
        accepted = 0
        with contextlib.suppress(TimeoutError):
            while True:
                listener.accept()[0].close()
                accepted += 1
    assert all(isinstance(o, redis.ConnectionError) for o in outcomes), outcomes
    assert accepted == 2  # one connect for the ten, one for the command after the pause
