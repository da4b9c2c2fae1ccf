"""Priority queues on the real RabbitMQ, and queues an older asyncml declared without them:
the worker consumes those as they are, and the API publishes to either kind."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Iterator
from urllib.parse import quote

import pytest
from kombu import Connection, Queue

from asyncml.api.amqp import AmqpPublisher
from asyncml.api.wire import task_body, task_headers
from asyncml.settings import Settings
from asyncml.worker.app import create_celery
from asyncml.worker.priorities import has_priorities, prepare
from tests.conftest import RABBIT_VHOST, require_service

URL = f"amqp://guest:guest@127.0.0.1:5672/{quote(RABBIT_VHOST, safe='')}"


@pytest.fixture
def names() -> Iterator[list[str]]:
    require_service("RabbitMQ", "127.0.0.1", 5672)
    made: list[str] = []
    yield made
    with Connection(URL) as conn:
        for name in made:
            conn.channel().queue_delete(name)


def _name(names: list[str]) -> str:
    names.append(f"asyncml-priority-test-{uuid.uuid4().hex[:8]}")
    return names[-1]


def test_new_queues_get_priorities_and_old_ones_are_left_as_they_are(
    names: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    fresh, old = _name(names), _name(names)
    with Connection(URL) as conn:
        conn.default_channel.queue_declare(old, durable=True, auto_delete=False)
        assert has_priorities(conn, fresh) and has_priorities(conn, fresh)
        assert not has_priorities(conn, old)  # refused: PRECONDITION_FAILED
        assert has_priorities(conn, fresh)  # the connection survives the refusal
    app = create_celery(Settings(broker_url=URL, store_url="redis://127.0.0.1:6379/0"))
    app.amqp.queues.select([fresh, old])
    with caplog.at_level(logging.WARNING, "asyncml.worker.priorities"):
        prepare(app, app.amqp.queues)
    queues = app.amqp.queues.consume_from
    assert queues[fresh].queue_arguments == {"x-max-priority": 9}
    assert not queues[fresh].no_declare
    assert queues[old].no_declare  # declaring it with other arguments would be refused
    assert f"rabbitmqctl delete_queue {old}" in caplog.text
    # What the worker's consumer then does with them works on both.
    with Connection(URL) as conn:
        for queue in (queues[fresh], queues[old]):
            queue.bind(conn.default_channel).declare()


def test_the_api_publishes_to_either_kind(names: list[str]) -> None:
    fresh, old = _name(names), _name(names)
    with Connection(URL) as conn:
        conn.default_channel.queue_declare(old, durable=True, auto_delete=False)

    async def publish() -> None:
        publisher = AmqpPublisher(URL)
        try:
            for queue in (old, fresh, old, fresh):
                for priority in (0, 9):
                    job_id = f"{queue}-{priority}"
                    headers = task_headers("asyncml.audio.length", job_id, {})
                    body = task_body(job_id, {})
                    await publisher.publish(queue, body, headers, job_id, priority)
        finally:
            await publisher.close()

    asyncio.run(publish())
    with Connection(URL) as conn:
        assert has_priorities(conn, fresh)  # the API declared it with them
        order = {}
        for name in (fresh, old):
            simple = conn.SimpleQueue(Queue(name, no_declare=True))
            got = [simple.get(timeout=5) for _ in range(4)]
            order[name] = [m.properties["priority"] for m in got]
            for message in got:
                message.ack()
            simple.close()
    assert order == {fresh: [9, 9, 0, 0], old: [0, 9, 0, 9]}
