"""A cheaper kombu Redis transport for workers: one client object per channel.

kombu's Redis channel builds a new ``redis.Redis`` object for every bookkeeping call
(``conn_or_acquire``): twice per message, once to record it as unacknowledged and once to
acknowledge it. The objects share the channel's connection pool, so nothing is gained by
building them anew, and redis-py's client constructor is costly (it copies its table of
response callbacks): about a tenth of a worker's CPU per job in our profile (see
docs/performance.md). A ``redis.Redis`` object is safe to share between threads
(each pipeline is a new object), so each channel keeps the one it built first, and builds
another only when its connection pool is replaced after a reconnect.
"""

from __future__ import annotations

from typing import Any

from kombu.transport import redis as kombu_redis

_ATTR = "_asyncml_client"


def install() -> None:
    """Patch kombu's Redis channel in this process (idempotent)."""
    channel: Any = kombu_redis.Channel
    if getattr(channel, "_asyncml_patched", False):
        return
    original: Any = channel._create_client

    def _create_client(self: Any, asynchronous: bool = False) -> Any:
        if asynchronous:
            return original(self, asynchronous=True)
        client = self.__dict__.get(_ATTR)
        if client is None or client.connection_pool is not self.pool:
            client = original(self)
            self.__dict__[_ATTR] = client
        return client

    channel._create_client = _create_client
    channel._asyncml_patched = True
