"""Batched tasks in a worker process: gather a batch behind the job Celery delivered, claim
each job, call ``run_batch`` once, then record and acknowledge each job on its own.

The job Celery delivered has been claimed already (``JobTask.run_job``) and is acked by
Celery after this returns, as any job's message. The others come from ``Drain``: each is
claimed in the store as it is taken (so a job canceled while queued is acked and left out,
and a redelivered job counts its attempt), and acked right after its own outcome is stored.
Should anything escape (the store unreachable), the messages not yet acked go back to the
head of the queue. Design and guarantees: docs/batching.md.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import redis
from billiard.exceptions import Terminated
from celery.exceptions import SoftTimeLimitExceeded
from pydantic import BaseModel, ValidationError

from asyncml.authoring import TaskDefinition
from asyncml.batching import BatchContext, check_outputs
from asyncml.errors import JobError
from asyncml.metrics.recording import record_batch, record_expired
from asyncml.worker import retries
from asyncml.worker.drain import Delivery, Drain

if TYPE_CHECKING:
    from asyncml.worker.base import JobTask, Outcome

log = logging.getLogger(__name__)

# While more messages keep coming, look for the next one this often until max_wait_ms.
POLL_S = 0.002


@dataclass
class Item:
    """One job of a batch; ``delivery`` is None for the job Celery delivered."""

    job_id: str
    payload: dict[str, Any]
    delivery: Delivery | None = None
    value: BaseModel | None = None
    result: tuple[str, Any] = field(default=("failed", ("internal_error", "not run")))
    error: JobError | None = None  # the task's own error for this job (maybe retryable)


def run(
    task: JobTask, definition: TaskDefinition, instance: Any, job_id: str, payload: dict[str, Any]
) -> Outcome:
    """Run the batch that starts with the claimed job ``job_id``; its Outcome (the other
    jobs' outcomes are recorded, acked and logged here)."""
    drain = task.context.drain
    items = [Item(job_id, payload)]
    pending: list[Item] = []  # taken from the broker, not acked yet
    try:
        gather(task, definition, drain, pending)  # appends as it claims: all put back on error
        items += pending
        record_batch(task.context.store.redis, definition.name, len(items))
        started = time.monotonic()
        if pending:  # whoever stops it at the hard limit records every job as timed out
            hard = task.time_limit or task.context.settings.task_time_limit_s
            task.context.store.batch_started([item.job_id for item in items], int(hard) + 60)
        with contextlib.ExitStack() as leases:
            for item in items:
                leases.enter_context(task.context.leases.hold(item.job_id))
            execute(task, definition, instance, items)
            first = None
            for item in items:
                outcome = record(task, definition, item)
                if item.delivery is None:
                    first = outcome
                    continue
                drain.ack(item.delivery)
                pending.remove(item)
                if task.context.holder is not None:
                    task.context.holder.released(item.job_id)
                _log(item.job_id, outcome, time.monotonic() - started)
        assert first is not None
        return first
    finally:
        if len(items) > 1:
            with contextlib.suppress(redis.RedisError):
                task.context.store.batch_ended(job_id)
        for item in pending:
            assert item.delivery is not None
            drain.put_back(item.delivery)
            if task.context.holder is not None:
                task.context.holder.released(item.job_id)


def gather(task: JobTask, definition: TaskDefinition, drain: Drain, items: list[Item]) -> None:
    """Append up to ``max_size - 1`` more claimed jobs of ``definition`` from its queue to
    ``items``. Messages already waiting are taken at once; once the queue runs dry, more are
    waited for until ``max_wait_ms`` after the first job, unless nothing at all was waiting
    behind it (a trickle: the job runs alone at once)."""
    batch = definition.batch
    assert batch is not None
    deadline = time.monotonic() + batch.max_wait_ms / 1000
    looked = 0
    while len(items) < batch.max_size - 1:
        delivery = drain.take(definition.queue)
        looked += 1
        if delivery is None:
            if looked == 1 or time.monotonic() + POLL_S > deadline:
                break  # nothing else waits: run now
            time.sleep(POLL_S)
            continue
        if not _fits(task, definition, delivery):
            drain.put_back(delivery)
            break
        item = Item(delivery.job_id, delivery.payload, delivery)
        holder = task.context.holder
        if holder is not None:  # a solo process's supervisor restores it if we die
            holder.received(item.job_id, delivery.tag)
        try:
            joined = claim(task, definition, item)
        except BaseException:
            drain.put_back(delivery)
            if holder is not None:
                holder.released(item.job_id)
            raise
        if joined:
            items.append(item)
        elif holder is not None:  # acked (or sent again) by claim()
            holder.released(item.job_id)


def _fits(task: JobTask, definition: TaskDefinition, delivery: Delivery) -> bool:
    """A message this batch may run: a due job of the same task and version."""
    version = delivery.version or task.newest.version
    return (
        bool(delivery.job_id)
        and delivery.task == definition.celery_name
        and version == definition.version
        and delivery.due()
    )


def claim(task: JobTask, definition: TaskDefinition, item: Item) -> bool:
    """Claim a taken job as ``JobTask.run_job`` claims its own; False when it does not join
    the batch (its message is then acked, or sent again later for a busy one)."""
    assert item.delivery is not None
    store = task.context.store
    found = store.start(item.job_id, task.max_attempts(definition), task.context.settings.lease_s)
    if found.run:
        log.info("job %s: %s attempt %s (batched)", item.job_id, definition.key, found.detail)
        return True
    if found.outcome == "busy":  # a live worker holds it: as run_job's retry does
        delay = math.ceil(float(found.detail)) + 1
        log.info("job %s: held by another worker; checking again in %ss", item.job_id, delay)
        _send_again(task, item, delay)
    elif found.outcome == "missing":
        log.warning("job %s: no record in this worker's store; dropping it", item.job_id)
        record_expired(store.redis, definition.name)
    else:
        log.info("job %s: %s (%s), not running it", item.job_id, found.outcome, found.detail)
    task.context.drain.ack(item.delivery)
    return False


def _send_again(task: JobTask, item: Item, delay: float) -> None:
    """Publish a taken job's task anew with a countdown (its message is acked after)."""
    assert item.delivery is not None
    version = item.delivery.version
    task.apply_async(
        args=(item.job_id, item.payload),
        kwargs={"version": version} if version else {},
        task_id=item.job_id,
        countdown=delay,
    )


def execute(task: JobTask, definition: TaskDefinition, instance: Any, items: list[Item]) -> None:
    """Validate each input, call ``run_batch`` once on the valid ones, and set each item's
    ``result``: ("succeeded", output JSON) or ("failed", (code, message))."""
    from asyncml.worker.base import _output, _OutputError, _validation_message

    valid = []
    for item in items:
        try:
            item.value = definition.input_model.model_validate(item.payload)
            valid.append(item)
        except ValidationError as exc:
            item.result = ("failed", ("invalid_input", _validation_message(exc)))
    if not valid:
        return
    contexts = [task.job_context(item.job_id) for item in valid]
    batch_ctx = BatchContext(contexts, logger=logging.getLogger(f"asyncml.tasks.{definition.name}"))
    try:
        outputs = check_outputs(instance.run_batch([i.value for i in valid], batch_ctx), len(valid))
    except JobError as exc:
        for item in valid:
            item.error = exc
        return _fail_all(valid, exc.code, exc.message)
    except SoftTimeLimitExceeded:
        return _fail_all(valid, "timeout", task._timeout_message())
    except (redis.ConnectionError, redis.TimeoutError, Terminated):
        raise
    except Exception as exc:
        log.exception("jobs %s: run_batch failed", ",".join(i.job_id for i in valid))
        return _fail_all(valid, "internal_error", f"unexpected {type(exc).__name__}: {exc}")
    for item, out in zip(valid, outputs, strict=True):
        if isinstance(out, JobError):
            item.result, item.error = ("failed", (out.code, out.message)), out
        elif isinstance(out, BaseException):
            log.error("job %s: its batch item failed: %r", item.job_id, out)
            item.result = ("failed", ("internal_error", f"unexpected {type(out).__name__}: {out}"))
        else:
            try:
                item.result = ("succeeded", _output(definition, out))
            except _OutputError as exc:
                item.result = ("failed", ("internal_error", str(exc)))


def _fail_all(items: list[Item], code: str, message: str) -> None:
    for item in items:
        item.result = ("failed", (code, message))


def record(task: JobTask, definition: TaskDefinition, item: Item) -> Outcome:
    """Store the item's outcome; a retryable error with attempts left is sent again with
    its backoff instead (the job Celery delivered: by the caller, with Celery's retry)."""
    from asyncml.worker.base import Outcome

    if item.error is not None:
        delay = retries.retry_in(task, definition, item.job_id, item.error)
        if delay is not None:
            if item.delivery is not None:
                _send_again(task, item, delay)
            return Outcome("retrying", "ok", f"{item.error.code}: {item.error.message}", delay)
    status, detail = item.result
    if status == "succeeded":
        return Outcome("succeeded", task.context.store.succeed(item.job_id, detail))
    code, message = detail
    return Outcome(
        "failed", task.context.store.fail(item.job_id, code, message), f"{code}: {message}"
    )


def _log(job_id: str, outcome: Outcome, seconds: float) -> None:
    final = outcome.final
    if final == "retrying":  # asyncml.worker.retries logged why, and when it runs again
        return
    if final == "failed" and outcome.stored == "ok":
        log.warning("job %s: failed in %.3fs with %s (batched)", job_id, seconds, outcome.error)
    else:
        log.info("job %s: %s in %.3fs (batched)", job_id, final, seconds)
