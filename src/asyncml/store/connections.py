"""The API process's asyncio Redis clients (the job store's, and a Redis broker's).

Every request that reads the store takes a pooled connection for a command or two. redis-py's
default asyncio pool refuses a command at once ("Too many connections") when its 100
connections are all in use, so a burst of a few hundred reads became a burst of 503s. Here
a request waits for a connection instead, for at most ``wait_s``: a crowd queues for a
moment, and only a pool that stays exhausted that long (the store far too slow for the
load) is refused, with ``PoolExhaustedError``, which the API tells apart from an outage.
"""

from __future__ import annotations

from typing import Any

import redis
import redis.asyncio as aredis
from redis.asyncio.connection import AbstractConnection
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

# Store connections per API process (ASYNCML_STORE_MAX_CONNECTIONS), and how long a
# request waits for one (ASYNCML_STORE_POOL_WAIT_S).
DEFAULT_MAX_CONNECTIONS = 100
DEFAULT_POOL_WAIT_S = 10.0


class PoolExhaustedError(redis.ConnectionError):
    """Every pooled store connection stayed busy for the whole wait: overload, not an outage.
    A ``redis.ConnectionError``, so code that treats the store as unreachable still does."""

    def __init__(self, max_connections: int, wait_s: float) -> None:
        super().__init__(
            f"all {max_connections} store connections stayed busy for {wait_s:g} s "
            "(ASYNCML_STORE_MAX_CONNECTIONS, ASYNCML_STORE_POOL_WAIT_S)"
        )


class WaitingPool(aredis.BlockingConnectionPool):
    """A blocking pool whose wait, and only its wait, ends in ``PoolExhaustedError``."""

    async def get_connection(self, *args: Any, **kwargs: Any) -> AbstractConnection:
        try:
            connection: AbstractConnection = await super().get_connection()  # type: ignore[no-untyped-call]
        except redis.ConnectionError as exc:
            # The pool's own deadline on the wait surfaces as a ConnectionError caused by
            # a TimeoutError; connecting fails with other causes (and has its own timeout).
            if isinstance(exc.__cause__, TimeoutError):
                raise PoolExhaustedError(self.max_connections, self.timeout or 0) from exc
            raise
        return connection


def async_redis(
    url: str,
    *,
    max_connections: int = DEFAULT_MAX_CONNECTIONS,
    wait_s: float = DEFAULT_POOL_WAIT_S,
) -> aredis.Redis:
    """A client with short timeouts and one retry of a command whose pooled connection turns
    out to be dead (a restarted server): the first request after a restart succeeds instead
    of answering 503. Connection errors only, not timeouts."""
    pool = WaitingPool.from_url(
        url,
        timeout=wait_s,
        max_connections=max_connections,
        socket_timeout=5,
        socket_connect_timeout=2,
        health_check_interval=30,
        retry=Retry(NoBackoff(), 1, supported_errors=(redis.ConnectionError,)),
    )
    return aredis.Redis.from_pool(pool)
