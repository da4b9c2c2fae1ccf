"""One pipelined connection for the API's two hottest store commands.

Every submit runs the create script and every status read an ``HGETALL``. Through
redis-py's asyncio client each of those costs the API about 100 µs of CPU (its connection
pool, retry and stream layers), about as much as the rest of a status read. Here the
commands go down one shared connection: an ``asyncio.Protocol`` whose replies hiredis (the
parser redis-py itself uses) decodes, matched to their callers in order, as Redis answers
them; concurrent requests share the connection without waiting for each other. About 30 µs
a command (``bench/api_cost.py``; docs/performance.md).

Failures behave as through redis-py: a dead connection is replaced and the command sent
once more (both commands are safe to repeat: the create script recognises its own record);
a second failure, or no answer within the timeout, raises ``redis.ConnectionError`` or
``redis.TimeoutError``, which the API answers with 503. Error replies raise
``redis.ResponseError`` (``NoScriptError`` for a script the server does not have).
Plain ``redis://`` and ``unix://`` URLs only; others use redis-py (``PipelinedConnection.
supports``).
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any, cast

import hiredis
import redis
from redis.asyncio.connection import parse_url
from redis.exceptions import NoScriptError, ResponseError

_DEAD = (redis.ConnectionError, ConnectionError, OSError)
# After a connect that timed out, requests fail at once for this long instead of each
# waiting its turn to try again: with the store cut off (packets dropped, every connect running into
# its timeout) the waiters would queue behind one another, and the API would answer
# later and later instead of a quick 503.
FAIL_FAST_S = 1.0


class _Protocol(asyncio.Protocol):
    def __init__(self) -> None:
        self._reader = hiredis.Reader()
        self._waiting: deque[asyncio.Future[Any]] = deque()
        self.transport: asyncio.Transport | None = None
        self.lost: Exception | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self._reader.feed(data)
        while (reply := self._reader.gets()) is not False:
            future = self._waiting.popleft()
            if not future.done():
                future.set_result(reply)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = redis.ConnectionError(f"lost the store connection: {exc or 'closed'}")
        while self._waiting:
            future = self._waiting.popleft()
            if not future.done():
                future.set_exception(self.lost)

    def send(self, packed: bytes) -> asyncio.Future[Any]:
        if self.lost is not None or self.transport is None or self.transport.is_closing():
            raise self.lost or redis.ConnectionError("the store connection is closed")
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting.append(future)
        self.transport.write(packed)
        return future

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


class PipelinedConnection:
    """Commands down one shared, lazily (re)opened connection to the store."""

    def __init__(self, url: str, *, timeout: float = 5.0, connect_timeout: float = 2.0) -> None:
        self._options = parse_url(url)
        self._timeout = timeout
        self._connect_timeout = connect_timeout
        self._protocol: _Protocol | None = None
        self._connecting: asyncio.Lock | None = None
        self._failed: tuple[float, redis.ConnectionError] | None = None  # until, why

    @staticmethod
    def supports(url: str) -> bool:
        return url.startswith(("redis://", "unix://"))

    async def execute(self, *args: Any) -> Any:
        """Send one command; its reply, with error replies raised."""
        packed = hiredis.pack_command(args)
        for attempt in range(2):
            protocol = await self._connected()
            try:
                reply = await self._answer(protocol, packed)
            except _DEAD as exc:
                self._drop(protocol)
                if attempt:
                    raise redis.ConnectionError(str(exc)) from exc
                continue
            if isinstance(reply, hiredis.ReplyError):
                message = str(reply)
                if message.startswith("NOSCRIPT"):
                    raise NoScriptError(message)
                raise ResponseError(message)
            return reply
        raise AssertionError("unreachable")

    async def _answer(self, protocol: _Protocol, packed: bytes) -> Any:
        future = protocol.send(packed)
        try:
            async with asyncio.timeout(self._timeout):
                return await future
        except TimeoutError:
            # Later replies would be matched to the wrong callers: start a new connection.
            self._drop(protocol)
            raise redis.TimeoutError("the store did not answer in time") from None

    async def _connected(self) -> _Protocol:
        protocol = self._protocol
        if protocol is not None and protocol.lost is None:
            return protocol
        self._fail_fast()
        if self._connecting is None:
            self._connecting = asyncio.Lock()
        async with self._connecting:
            if self._protocol is None or self._protocol.lost is not None:
                self._fail_fast()  # the connect this caller waited for has just failed
                try:
                    self._protocol = await self._open()
                except redis.ConnectionError as exc:
                    # Only a connect that ran into its timeout: a refused one (a server
                    # restarting) costs nothing, and the next request should try at once.
                    if isinstance(exc.__cause__, TimeoutError):
                        self._failed = (asyncio.get_running_loop().time() + FAIL_FAST_S, exc)
                    raise
                self._failed = None
            return self._protocol

    def _fail_fast(self) -> None:
        if self._failed is not None and asyncio.get_running_loop().time() < self._failed[0]:
            raise redis.ConnectionError(str(self._failed[1]))

    async def _open(self) -> _Protocol:
        loop = asyncio.get_running_loop()
        options = self._options
        try:
            async with asyncio.timeout(self._connect_timeout):
                if "path" in options:
                    _, protocol = await loop.create_unix_connection(_Protocol, options["path"])
                else:
                    _, protocol = await loop.create_connection(
                        _Protocol, options.get("host", "localhost"), options.get("port", 6379)
                    )
                setup: list[tuple[Any, ...]] = []
                if options.get("password") is not None:
                    user = options.get("username")
                    auth = (
                        ("AUTH", user, options["password"])
                        if user
                        else ("AUTH", options["password"])
                    )
                    setup.append(auth)
                if options.get("db"):
                    setup.append(("SELECT", options["db"]))
                for command in setup:
                    reply = await protocol.send(hiredis.pack_command(command))
                    if isinstance(reply, hiredis.ReplyError):
                        protocol.close()
                        raise redis.ConnectionError(f"the store refused {command[0]}: {reply}")
        except (TimeoutError, OSError) as exc:
            raise redis.ConnectionError(f"cannot connect to the store: {exc}") from exc
        return protocol

    def _drop(self, protocol: _Protocol) -> None:
        protocol.close()
        if protocol.lost is None:
            protocol.connection_lost(None)
        if self._protocol is protocol:
            self._protocol = None

    async def close(self) -> None:
        if self._protocol is not None:
            self._drop(self._protocol)  # callers still waiting get ConnectionError
