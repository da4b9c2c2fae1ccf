"""Celery task messages built without Celery, for publishing off kombu's hot path.

On a Redis broker, kombu's transport keeps a queue as a list; publishing a task is one
``LPUSH`` of a JSON envelope (Celery's protocol 2 headers, the body base64-encoded, the
delivery properties). Building that envelope here costs a few microseconds, where
``Celery.send_task`` costs about half a millisecond of CPU and a worker thread, plus a
lookup of the exchange's bindings on every call. The worker side is untouched: Celery and
kombu read these messages exactly as their own (integration tests run real workers on it).

On RabbitMQ the same headers and body go out through an asyncio AMQP client
(``asyncml.api.amqp``), to the default exchange with the queue's name as routing key, as
Celery itself sends them.

When the broker lives in the job store's own Redis database (the embedded layout, or a
distributed one configured that way), the push happens inside the Lua script that writes
the job's record, so a record and its message exist together or not at all.
"""

from __future__ import annotations

import base64
import functools
import os
import socket
import uuid
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson
from kombu.transport.redis import PRIORITY_STEPS, Channel

from asyncml.scheduling import broker_priority

# Longest argsrepr kept in the headers (what Flower and worker logs show).
_REPR_MAX = 512


@functools.cache
def _origin(pid: int) -> str:
    return f"asyncml-api-{pid}@{socket.gethostname()}"


def _kwargs(version: str | None) -> dict[str, str]:
    return {} if version is None else {"version": version}


def task_body(job_id: str, payload: dict[str, Any], version: str | None = None) -> bytes:
    """Celery's protocol 2 body for ``args=(job_id, payload)`` and ``kwargs={"version": …}``
    (the task version the input was validated against): JSON ``[args, kwargs, embed]``."""
    embed = {"callbacks": None, "errbacks": None, "chain": None, "chord": None}
    return orjson.dumps([[job_id, payload], _kwargs(version), embed])


def task_headers(
    task: str,
    job_id: str,
    payload: dict[str, Any],
    version: str | None = None,
    time_limits: tuple[float, float] | None = None,
) -> dict[str, Any]:
    """Celery's protocol 2 headers for a task sent by name with ``task_id=job_id``;
    ``time_limits`` (soft, hard) become the message's own (Celery's ``timelimit``, which
    both worker pools honour)."""
    argsrepr = repr((job_id, payload))
    if len(argsrepr) > _REPR_MAX:
        argsrepr = argsrepr[: _REPR_MAX - 3] + "..."
    return {
        "lang": "py",
        "task": task,
        "id": job_id,
        "shadow": None,
        "eta": None,
        "expires": None,
        "group": None,
        "group_index": None,
        "retries": 0,
        "timelimit": [time_limits[1], time_limits[0]] if time_limits else [None, None],
        "root_id": job_id,
        "parent_id": None,
        "argsrepr": argsrepr,
        "kwargsrepr": repr(_kwargs(version)),
        "origin": _origin(os.getpid()),
        "ignore_result": None,
        "replaced_task_nesting": 0,
        "stamped_headers": None,
        "stamps": {},
    }


def redis_list(queue: str, priority: int) -> str:
    """The list kombu's Redis transport keeps ``queue``'s messages of our ``priority`` in:
    one list per priority step, the step-0 one named like the queue."""
    pri = broker_priority(priority, redis=True)
    step = max(s for s in PRIORITY_STEPS if s <= pri)
    return f"{queue}{Channel.sep}{step}" if step else queue


def task_message(
    task: str,
    queue: str,
    job_id: str,
    payload: dict[str, Any],
    version: str | None = None,
    *,
    priority: int = 0,
    time_limits: tuple[float, float] | None = None,
) -> bytes:
    """The message kombu's Redis transport stores for ``send_task(task, args=(job_id,
    payload), kwargs={"version": version}, task_id=job_id, queue=queue, priority=…)``,
    ready to ``LPUSH`` onto the list ``redis_list(queue, priority)``."""
    envelope = {
        "body": base64.b64encode(task_body(job_id, payload, version)).decode("ascii"),
        "content-encoding": "utf-8",
        "content-type": "application/json",
        "headers": task_headers(task, job_id, payload, version, time_limits),
        "properties": {
            "correlation_id": job_id,
            "reply_to": "",
            "delivery_mode": 2,
            "delivery_info": {"exchange": "", "routing_key": queue},
            "priority": broker_priority(priority, redis=True),
            "body_encoding": "base64",
            "delivery_tag": str(uuid.uuid4()),
        },
    }
    return orjson.dumps(envelope)


def redis_location(url: str) -> tuple[str, str] | None:
    """``(server, db)`` of a kombu or redis-py Redis URL, for telling whether two URLs name
    the same database; None for anything else (AMQP, Sentinel, ...)."""
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    if parts.scheme in ("redis+socket", "unix"):
        db = (query.get("virtual_host") or query.get("db") or ["0"])[0]
        return f"unix:{parts.path}", db or "0"
    if parts.scheme in ("redis", "rediss"):
        db = parts.path.strip("/") or (query.get("db") or ["0"])[0]
        host = (parts.hostname or "localhost").lower()
        if host == "localhost":
            host = "127.0.0.1"
        port = parts.port or 6379
        return f"{parts.scheme}:{parts.username or ''}:{host}:{port}", db
    return None


def redis_py_url(kombu_url: str) -> str | None:
    """The redis-py URL for a kombu Redis broker URL (None when there is none)."""
    parts = urlsplit(kombu_url)
    if parts.scheme == "redis+socket":
        db = (parse_qs(parts.query).get("virtual_host") or ["0"])[0] or "0"
        return f"unix://{parts.path}?db={db}"
    if parts.scheme in ("redis", "rediss"):
        return kombu_url
    return None
