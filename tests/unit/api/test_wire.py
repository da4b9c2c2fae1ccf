"""The hand-built broker message against what Celery itself puts on a Redis broker."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from kombu import Connection

from asyncml.api.wire import redis_list, redis_location, redis_py_url, task_message
from asyncml.scheduling import broker_priority
from asyncml.settings import Settings
from asyncml.worker.app import create_celery
from tests.conftest import UNIT_DB, require_service

URL = f"redis://127.0.0.1:6379/{UNIT_DB}"
VOLATILE_HEADERS = {"origin", "argsrepr"}
VOLATILE_PROPERTIES = {"delivery_tag", "reply_to"}


@pytest.fixture
def broker() -> Iterator[redis.Redis]:
    require_service("Redis", "127.0.0.1", 6379)
    client = redis.Redis.from_url(URL)
    client.flushdb()
    yield client
    client.flushdb()


def _comparable(raw: bytes) -> dict[str, Any]:
    message: dict[str, Any] = json.loads(raw)
    for name in VOLATILE_HEADERS:
        message["headers"].pop(name)
    for name in VOLATILE_PROPERTIES:
        message["properties"].pop(name)
    message["body"] = json.loads(base64.b64decode(message["body"]))
    return message


@pytest.mark.parametrize(
    ("priority", "limits"), [(0, None), (4, None), (9, (3.0, 33)), (2, (5.0, 8))]
)
def test_same_message_as_celery_send_task(
    broker: redis.Redis, priority: int, limits: tuple[float, float] | None
) -> None:
    """Also in the same list: kombu's for the broker priority of ours."""
    app = create_celery(Settings(broker_url=URL, store_url=URL))
    payload = {"url": "https://example.org/a.wav", "nested": [1, {"x": "é"}]}
    app.send_task(
        "asyncml.audio.length",
        args=("job-1", payload),
        task_id="job-1",
        queue="audio",
        priority=broker_priority(priority, redis=True),
        soft_time_limit=limits[0] if limits else None,
        time_limit=limits[1] if limits else None,
    )
    celery_raw = broker.rpop(redis_list("audio", priority))
    assert celery_raw is not None
    ours = task_message(
        "asyncml.audio.length", "audio", "job-1", payload, priority=priority, time_limits=limits
    )
    assert _comparable(ours) == _comparable(celery_raw)


def test_higher_priorities_are_consumed_first(broker: redis.Redis) -> None:
    """kombu's consumer takes the lists in step order: our 9 first, our 0 last."""
    for n, priority in enumerate([0, 5, 9, 2, 0, 9]):
        message = task_message("t", "audio", f"job-{n}-{priority}", {}, priority=priority)
        broker.lpush(redis_list("audio", priority), message)
    order = []
    with Connection(URL) as conn:
        queue = conn.SimpleQueue("audio")
        for _ in range(6):
            message = queue.get(timeout=5)
            order.append(int(message.headers["id"].rsplit("-", 1)[1]))
            message.ack()
        queue.close()
    assert order == [9, 9, 5, 2, 0, 0]


def test_kombu_consumes_it(broker: redis.Redis) -> None:
    payload = {"url": "https://example.org/b.wav"}
    broker.lpush("audio", task_message("asyncml.audio.length", "audio", "job-2", payload))
    with Connection(URL) as conn:
        queue = conn.SimpleQueue("audio")
        message = queue.get(timeout=5)
        assert message.headers["task"] == "asyncml.audio.length"
        assert message.headers["id"] == "job-2"
        assert message.decode() == [["job-2", payload], {}, message.decode()[2]]
        message.ack()
        queue.close()


def test_long_inputs_keep_a_short_repr() -> None:
    raw = task_message("t", "q", "job-3", {"url": "x" * 5000})
    headers = json.loads(raw)["headers"]
    assert len(headers["argsrepr"]) <= 512
    assert headers["argsrepr"].endswith("...")


@pytest.mark.parametrize(
    ("first", "second", "same"),
    [
        ("redis://127.0.0.1:6379/0", "redis://localhost:6379/0", True),
        ("redis://127.0.0.1:6379/1", "redis://127.0.0.1:6379/0", False),
        ("redis://127.0.0.1/0", "redis://127.0.0.1:6379", True),
        ("redis://10.0.0.5:6379/0", "redis://10.0.0.6:6379/0", False),
        ("redis+socket:///run/v.sock?virtual_host=0", "unix:///run/v.sock?db=0", True),
        ("redis+socket:///run/v.sock?virtual_host=1", "unix:///run/v.sock?db=0", False),
        ("amqp://guest:guest@127.0.0.1:5672//", "redis://127.0.0.1:6379/0", False),
    ],
)
def test_same_database(first: str, second: str, same: bool) -> None:
    a, b = redis_location(first), redis_location(second)
    assert (a is not None and a == b) is same


def test_redis_py_url() -> None:
    assert redis_py_url("redis+socket:///run/v.sock?virtual_host=2") == "unix:///run/v.sock?db=2"
    assert redis_py_url("redis://h:6379/3") == "redis://h:6379/3"
    assert redis_py_url("amqp://guest@h//") is None
