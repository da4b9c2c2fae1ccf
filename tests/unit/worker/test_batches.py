"""How a worker gathers a batch (asyncml.worker.batches.gather), on a real Redis broker and
store: jobs already waiting join at once, nothing waiting means no wait at all, a job
canceled while queued is left out, another task's message ends the batch and goes back."""

from __future__ import annotations

import time
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
import redis
from celery import Celery

import asyncml
from asyncml.authoring import definition_of
from asyncml.settings import Settings
from asyncml.store import JobStore
from asyncml.worker import transport
from asyncml.worker.app import create_celery
from asyncml.worker.batches import Item, gather
from asyncml.worker.drain import Drain
from tests.plugins.runtime_tasks import Number, Squared
from tests.unit.conftest import URL
from tests.unit.test_store import create


@asyncml.task("fixture.square", queue="batch", batch=asyncml.Batch(max_size=8, max_wait_ms=1000))
class Patient:
    """fixture.square waiting long for more: a wait that shows whatever the machine's load."""

    def run_batch(
        self, inputs: list[Number], ctx: asyncml.BatchContext
    ) -> list[Squared | Exception]:
        raise NotImplementedError  # only gathered here, never run


SQUARE = definition_of(Patient)


@pytest.fixture
def setup(store: JobStore) -> Iterator[tuple[Any, Celery]]:
    transport.install()
    settings = Settings(broker_url=URL, store_url=URL)
    task = SimpleNamespace(
        context=SimpleNamespace(store=store, drain=Drain(settings), settings=settings, holder=None),
        newest=SQUARE,
        max_attempts=lambda definition: 3,
    )
    app = create_celery(settings)
    yield task, app
    app.close()
    redis.Redis.from_url(URL).flushdb()


def _queue(app: Celery, task: str = "asyncml.fixture.square") -> str:
    job_id, _ = create()  # a queued record in the store
    app.send_task(task, args=(job_id, {"n": 1}), kwargs={}, task_id=job_id, queue="batch")
    return job_id


def _gather(task: Any) -> tuple[list[Item], float]:
    items: list[Item] = []
    start = time.monotonic()
    gather(task, SQUARE, task.context.drain, items)
    return items, time.monotonic() - start


def test_nothing_waiting_means_no_wait(setup: tuple[Any, Celery]) -> None:
    task, _ = setup
    items, took = _gather(task)
    assert items == [] and took < 0.5  # one look, not max_wait_ms (1 s)


def test_waiting_jobs_join_and_the_rest_of_max_wait_is_waited(
    setup: tuple[Any, Celery],
) -> None:
    task, app = setup
    ids = [_queue(app) for _ in range(3)]
    items, took = _gather(task)
    assert [item.job_id for item in items] == ids
    assert took >= 0.9  # the queue ran dry: more were awaited until max_wait_ms (1 s)
    assert {task.context.store.status(job_id) for job_id in ids} == {"started"}


def test_a_full_batch_does_not_wait(setup: tuple[Any, Celery]) -> None:
    task, app = setup
    ids = [_queue(app) for _ in range(9)]
    items, _ = _gather(task)
    assert [item.job_id for item in items] == ids[:7]  # max_size 8: the first job + 7
    assert task.context.store.status(ids[7]) == "queued"


def test_a_canceled_job_is_left_out_and_another_task_ends_the_batch(
    setup: tuple[Any, Celery],
) -> None:
    task, app = setup
    first, canceled = _queue(app), _queue(app)
    task.context.store.redis.hset(f"asyncml:job:{canceled}", "status", "canceled")
    other = _queue(app, "asyncml.fixture.flaky")
    after = _queue(app)
    items, _ = _gather(task)
    assert [item.job_id for item in items] == [first]
    assert task.context.store.status(canceled) == "canceled"  # acked, never started
    # The other task's message is back at the head of the queue, before the next square.
    following = task.context.drain.take("batch")
    assert following is not None and following.job_id == other
    task.context.drain.ack(following)
    last = task.context.drain.take("batch")
    assert last is not None and last.job_id == after
    task.context.drain.ack(last)
