"""The job task base class: claim the job, run the model, record the outcome once."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import Any

import redis
from billiard.exceptions import TimeLimitExceeded
from celery import Task
from celery.exceptions import SoftTimeLimitExceeded
from pydantic import BaseModel, ValidationError

from asyncml.catalog import TaskSpec
from asyncml.errors import JobError
from asyncml.metrics.recording import record_expired
from asyncml.worker.context import WorkerContext

log = logging.getLogger(__name__)

# While the store is unreachable a job is retried with growing delays (capped) instead of
# being acknowledged and lost: about an hour in all before it gives up.
STORE_RETRY_DELAYS = (1, 2, 4, 8, 15, 30)
STORE_MAX_RETRIES = 120


class JobTask(Task):  # type: ignore[misc]
    """Celery task whose message is ``(job_id, input)`` and whose effects go to the store."""

    context: WorkerContext
    spec: TaskSpec

    def run_job(self, job_id: str, payload: dict[str, Any], fn: Callable[[Any], BaseModel]) -> None:
        ctx = self.context
        try:
            claim = ctx.store.start(job_id, ctx.settings.max_attempts, ctx.settings.lease_s)
            if claim.outcome == "busy":
                # Another worker holds it (a broker redelivery): look again when its lease
                # would have lapsed, so the job runs if that worker has died.
                delay = math.ceil(float(claim.detail)) + 1
                log.info("job %s: held by another worker; checking again in %ss", job_id, delay)
                raise self.retry(countdown=delay, max_retries=None)
            if claim.outcome == "missing":
                # Its record expired while it waited, or (a misconfiguration) this worker
                # shares a broker queue with another deployment that has its own store.
                log.warning(
                    "job %s: no record in this worker's store; dropping it (expired, or the "
                    "broker's queues are shared with a deployment using another store)",
                    job_id,
                )
                record_expired(ctx.store.redis, self.spec.name)
                return
            if not claim.run:
                log.info("job %s: %s (%s), not running it", job_id, claim.outcome, claim.detail)
                return
            log.info("job %s: %s attempt %s", job_id, self.spec.name, claim.detail)
            with ctx.leases.hold(job_id):
                outcome = self._execute(job_id, payload, fn)
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            delay = STORE_RETRY_DELAYS[min(self.request.retries, len(STORE_RETRY_DELAYS) - 1)]
            log.warning("job %s: store unreachable (%s); retrying in %ss", job_id, exc, delay)
            raise self.retry(countdown=delay, max_retries=STORE_MAX_RETRIES) from exc
        log.info("job %s: %s", job_id, outcome)

    def _execute(self, job_id: str, payload: dict[str, Any], fn: Callable[[Any], BaseModel]) -> str:
        store = self.context.store
        try:
            value = self.spec.input_model.model_validate(payload)
            result = fn(value)
        except ValidationError as exc:
            return store.fail(job_id, "invalid_input", _validation_message(exc))
        except JobError as exc:
            log.info("job %s: failed with %s: %s", job_id, exc.code, exc.message)
            return store.fail(job_id, exc.code, exc.message)
        except SoftTimeLimitExceeded:
            return store.fail(job_id, "timeout", self._timeout_message())
        except (redis.ConnectionError, redis.TimeoutError):
            raise
        except Exception as exc:
            log.exception("job %s: unexpected error", job_id)
            return store.fail(job_id, "internal_error", f"unexpected {type(exc).__name__}: {exc}")
        return store.succeed(job_id, result.model_dump(mode="json"))

    def _timeout_message(self) -> str:
        limit = self.context.settings.task_soft_time_limit_s
        return f"the job ran longer than its {limit}s limit and was stopped"

    def on_failure(self, exc: Exception, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        # A hard time limit kills the child process; this hook then runs in the parent.
        if isinstance(exc, TimeLimitExceeded):
            self.record_hard_timeout(task_id)

    def record_hard_timeout(self, job_id: str) -> None:
        """The job was stopped at the hard limit (by prefork's pool or a solo watchdog)."""
        try:
            self.context.store.fail(job_id, "timeout", self._timeout_message())
        except redis.RedisError:
            log.exception("job %s: could not record the hard timeout", job_id)


def _validation_message(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or "input"
    return f"input.{where}: {first['msg']}"
