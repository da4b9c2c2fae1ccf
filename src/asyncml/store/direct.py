"""Lua scripts that a worker runs for every job, sent on a connection it holds.

A worker runs four small scripts per job: two job-state changes (``asyncml.store``) and
kombu's record of the message in hand and its removal (``asyncml.queue.patches``).
Through redis-py each call costs more CPU than the round trip itself: the command path
(retry wrapper, argument checks, response callbacks) and, above all, taking a connection
from the pool and giving it back (a lock, a fork check and connection bookkeeping each
way). ``DirectScript`` sends ``EVALSHA`` on a connection of its own, one per thread (the
job runs on one, the lease keeper renews on another), made by the client's pool so it has
the same address, credentials, timeouts and health checks.

Failures behave as through redis-py: a dropped connection is reconnected and the script
sent once more (every script here is safe to run twice: the state scripts check the
state they change, kombu's write the same fields again); a server that lost its scripts
(restarted) has the script loaded again. Error replies raise ``redis.ResponseError``.
"""

from __future__ import annotations

import hashlib
import os
import threading
from typing import Any

import redis
from redis.exceptions import NoScriptError


class DirectScript:
    def __init__(self, client: redis.Redis, source: str) -> None:
        self._client = client
        self._source = source
        self.sha = hashlib.sha1(source.encode()).hexdigest()
        self._local = threading.local()
        self._lock = threading.Lock()
        self._connections: list[Any] = []

    def __call__(self, keys: list[Any], args: list[Any]) -> Any:
        for attempt in range(2):
            connection = self._connection()
            try:
                connection.send_command("EVALSHA", self.sha, len(keys), *keys, *args)
                return connection.read_response()
            except NoScriptError:
                # Loaded and run through redis-py, which knows how.
                return self._client.register_script(self._source)(keys=keys, args=args)
            except (redis.ConnectionError, redis.TimeoutError):
                connection.disconnect()  # the next send connects afresh
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def _connection(self) -> Any:
        local = self._local
        if getattr(local, "pid", None) != os.getpid():
            # A new thread, or a forked child whose parent's socket it must not share.
            local.connection = self._client.connection_pool.make_connection()
            local.pid = os.getpid()
            with self._lock:
                self._connections.append(local.connection)
        return local.connection

    def close(self) -> None:
        with self._lock:
            connections, self._connections = self._connections, []
        for connection in connections:
            connection.disconnect()
