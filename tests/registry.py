"""The built-in tasks' manifests written to a test store, as ``asyncml tasks register``
does: for tests whose API must accept jobs before (or without) any worker."""

from __future__ import annotations

import redis

from asyncml.plugins import discover
from asyncml.store.registry import Registry


def register_builtins(url: str) -> None:
    client = redis.Redis.from_url(url)
    try:
        Registry(client).register([t.manifest() for t in discover()])
    finally:
        client.close()
