"""A batch's further messages taken straight from a real broker (asyncml.worker.drain):
decoded as jobs, put back at the head of the queue, and held unacknowledged, so a process
that dies without acking them leaves them for the next worker."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from urllib.parse import quote

import pytest
import redis
from celery import Celery

from asyncml.settings import Settings
from asyncml.worker import transport
from asyncml.worker.app import create_celery
from asyncml.worker.drain import Drain
from tests.conftest import RABBIT_VHOST, UNIT_DB, require_service

BROKERS = {
    "redis": f"redis://127.0.0.1:6379/{UNIT_DB}",
    "rabbitmq": f"amqp://guest:guest@127.0.0.1:5672/{quote(RABBIT_VHOST, safe='')}",
}


@pytest.fixture(params=sorted(BROKERS))
def broker(request: pytest.FixtureRequest) -> Iterator[tuple[Settings, Celery, str]]:
    name = request.param
    require_service(name, "127.0.0.1", 6379 if name == "redis" else 5672)
    if name == "redis":
        redis.Redis.from_url(BROKERS[name]).flushdb()
    transport.install()
    settings = Settings(broker_url=BROKERS[name], store_url=BROKERS["redis"])
    app = create_celery(settings)
    queue = f"drain-test-{uuid.uuid4().hex[:8]}"
    yield settings, app, queue
    with app.connection_for_write() as conn:
        if name == "rabbitmq":
            conn.default_channel.queue_delete(queue)
    app.close()


def _send(app: Celery, queue: str, task: str, n: int, version: str | None = "1") -> str:
    job_id = str(uuid.uuid4())
    kwargs = {"version": version} if version else {}
    app.send_task(task, args=(job_id, {"n": n}), kwargs=kwargs, task_id=job_id, queue=queue)
    return job_id


def test_messages_are_jobs_and_go_back_to_the_head(broker: tuple[Settings, Celery, str]) -> None:
    settings, app, queue = broker
    first = _send(app, queue, "asyncml.fixture.square", 1)
    second = _send(app, queue, "asyncml.fixture.square", 2, version=None)
    drain = Drain(settings)
    taken = drain.take(queue)
    assert taken is not None
    assert (taken.job_id, taken.payload, taken.version, taken.task) == (
        first,
        {"n": 1},
        "1",
        "asyncml.fixture.square",
    )
    assert taken.due()
    drain.put_back(taken)  # the head of the queue: taken again before the second
    again = drain.take(queue)
    assert again is not None and again.job_id == first
    drain.ack(again)
    last = drain.take(queue)
    assert last is not None and (last.job_id, last.version) == (second, None)
    drain.ack(last)
    assert drain.take(queue) is None  # nothing waits: no blocking


def test_a_message_held_by_a_dead_process_comes_back(broker: tuple[Settings, Celery, str]) -> None:
    settings, app, queue = broker
    job = _send(app, queue, "asyncml.fixture.square", 7)
    held = Drain(settings)
    taken = held.take(queue)
    assert taken is not None and taken.job_id == job
    assert Drain(settings).take(queue) is None  # held: no one else gets it
    if settings.broker_is_redis:
        # What a solo worker's supervisor does for a dead process (Restorer): the message
        # sits in kombu's unacknowledged hash under its tag until restored.
        other = Drain(settings)
        other._ready_channel().qos.restore_by_tag(taken.tag)
    else:  # RabbitMQ puts a closed connection's unacknowledged messages back itself
        held._connection.collect()
    back = Drain(settings).take(queue)
    assert back is not None and back.job_id == job
