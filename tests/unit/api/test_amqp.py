"""The asyncio AMQP publisher against the real RabbitMQ: what a Celery worker receives."""

from __future__ import annotations

import asyncio
import json
import uuid
from urllib.parse import quote

import pytest
from kombu import Connection, Queue

from asyncml.queue.amqp import AmqpPublisher, PublishError
from asyncml.queue.wire import task_body, task_headers
from asyncml.settings import Settings
from asyncml.worker.app import create_celery
from tests.conftest import RABBIT_VHOST, require_service

URL = f"amqp://guest:guest@127.0.0.1:5672/{quote(RABBIT_VHOST, safe='')}"


def _receive(queue: str) -> tuple[dict[str, object], dict[str, object], object]:
    with Connection(URL) as conn:
        simple = conn.SimpleQueue(Queue(queue, durable=True, no_declare=True))
        message = simple.get(timeout=5)
        message.ack()
        found = dict(message.headers), dict(message.properties), message.decode()
        simple.close()
        conn.default_channel.queue_delete(queue)
    return found


def test_publishes_what_send_task_publishes() -> None:
    require_service("RabbitMQ", "127.0.0.1", 5672)
    payload = {"url": "https://example.org/a.wav", "n": [1, None, {"x": "é"}]}
    queue = f"asyncml-amqp-test-{uuid.uuid4().hex[:8]}"

    async def publish() -> None:
        publisher = AmqpPublisher(URL)
        try:
            headers = task_headers("asyncml.audio.length", "job-1", payload)
            await publisher.publish(queue, task_body("job-1", payload), headers, "job-1")
        finally:
            await publisher.close()

    asyncio.run(publish())
    ours = _receive(queue)
    app = create_celery(Settings(broker_url=URL, store_url="redis://127.0.0.1:6379/0"))
    app.send_task("asyncml.audio.length", args=("job-1", payload), task_id="job-1", queue=queue)
    celery = _receive(queue)
    for headers in (ours[0], celery[0]):
        headers.pop("origin"), headers.pop("argsrepr")
    assert ours[0] == celery[0]
    assert ours[2] == celery[2] == json.loads(task_body("job-1", payload))
    for name in ("correlation_id", "content_type", "content_encoding", "delivery_mode"):
        assert ours[1][name] == celery[1][name], name


def test_unreachable_broker_fails_fast_then_at_once() -> None:
    async def publish() -> tuple[str, str]:
        publisher = AmqpPublisher("amqp://guest:guest@127.0.0.1:1//")
        try:
            with pytest.raises(PublishError) as first:
                await publisher.publish("q", b"[]", {}, "job")
            with pytest.raises(PublishError) as second:  # within RETRY_CONNECT_S: no new try
                await publisher.publish("q", b"[]", {}, "job")
            return str(first.value), str(second.value)
        finally:
            await publisher.close()

    first, second = asyncio.run(publish())
    assert "could not connect" in first and "just failed" in second


def test_many_at_once_and_a_broken_connection_is_replaced() -> None:
    require_service("RabbitMQ", "127.0.0.1", 5672)
    queue = f"asyncml-amqp-test-{uuid.uuid4().hex[:8]}"

    async def go() -> None:
        publisher = AmqpPublisher(URL)
        try:
            await asyncio.gather(
                *(publisher.publish(queue, b"[]", {"n": n}, f"job-{n}") for n in range(200))
            )
            assert publisher._connection is not None
            await publisher._connection.close()  # what a broker restart does to it
            await publisher.publish(queue, b"[]", {"n": 200}, "job-200")
        finally:
            await publisher.close()

    asyncio.run(go())
    with Connection(URL) as conn:
        channel = conn.default_channel
        assert channel.queue_declare(queue, passive=True).message_count == 201
        channel.queue_delete(queue)
