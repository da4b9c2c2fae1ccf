"""What a broker holds for a queue, as the republisher needs to know it.

Read through the Celery app's own kombu connection. On a Redis broker the answer is exact
(kombu's lists and its ``unacked`` hash, read by task id); RabbitMQ cannot be searched for
one message, so there only a queue with nothing ready counts as holding none of them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from typing import Any

import orjson
from celery import Celery


class BrokerView:
    """What the broker holds for a queue, read through its own kombu connection."""

    def __init__(self, app: Celery) -> None:
        self.app = app
        self._conn: Any = None

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.release()
            self._conn = None

    @property
    def searchable(self) -> bool:
        """Whether the broker can be searched for one message (Redis; not RabbitMQ)."""
        if self._conn is None:
            self._conn = self.app.connection_for_read()
        return bool(self._conn.transport.driver_type == "redis")

    def missing(self, queue: str, job_ids: Iterable[str]) -> set[str]:
        """The jobs among ``job_ids`` for which the broker surely holds no message."""
        if self.searchable:
            return set(job_ids) - redis_message_ids(self._conn.default_channel, queue)
        channel = self._conn.default_channel
        try:
            ready = int(channel.queue_declare(queue=queue, passive=True).message_count)
        except self._conn.channel_errors:  # not declared yet: nothing to say
            self.close()
            return set()
        # RabbitMQ cannot be searched: only a queue with nothing ready holds none of them.
        return set(job_ids) if ready == 0 else set()


def redis_message_ids(channel: Any, queue: str) -> set[str]:
    """Task ids of every message a kombu Redis channel holds for ``queue`` (its lists, one
    per priority step) or holds unacknowledged (any queue), read in one MULTI."""
    keys = list(dict.fromkeys(channel._q_for_pri(queue, pri) for pri in channel.priority_steps))
    with channel.conn_or_acquire() as client, client.pipeline(transaction=True) as pipe:
        for key in keys:
            pipe.lrange(key, 0, -1)
        pipe.hvals(channel.unacked_key)
        *lists, unacked = pipe.execute()
    ids = {_task_id(orjson.loads(raw)) for items in lists for raw in items}
    ids.update(_task_id(orjson.loads(raw)[0]) for raw in unacked)
    return ids


def _task_id(message: Any) -> str:
    try:
        return str(message["headers"]["id"])
    except (KeyError, TypeError):
        return ""
