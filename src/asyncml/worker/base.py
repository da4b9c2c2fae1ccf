"""The Celery task that runs any asyncml task: claim the job, set the task up once per
process, run it with a Context, record the outcome once."""

from __future__ import annotations

import contextlib
import logging
import math
import os
import time
from typing import Any

import redis
from billiard.exceptions import Terminated, TimeLimitExceeded
from celery import Task
from celery.exceptions import SoftTimeLimitExceeded
from pydantic import ValidationError

from asyncml.authoring import Context, TaskDefinition
from asyncml.errors import JobError
from asyncml.store.counters import record_expired
from asyncml.worker import batches, retries
from asyncml.worker.context import WorkerContext
from asyncml.worker.outcomes import Outcome, OutputError, output_json, validation_message

log = logging.getLogger(__name__)

# While the store is unreachable a job is retried with growing delays (capped) instead of
# being acknowledged and lost: about an hour in all before it gives up.
STORE_RETRY_DELAYS = (1, 2, 4, 8, 15, 30)
STORE_MAX_RETRIES = 120
# A task whose setup() failed in this process puts its jobs back (still queued, not
# failed) and tries setup() again after this long.
SETUP_RETRY_S = 15


class SetupFailedError(Exception):
    pass


class JobNotSucceededError(Exception):
    """Raised once a job's failure (or cancel) is recorded, so that Celery reports its task
    as failed too (its log line, task events, Flower) instead of "succeeded". Declared in
    the task's ``throws``: Celery logs it at INFO without a traceback and, with
    ``task_acks_on_failure_or_timeout``, still acks the message (late ack, no redelivery)."""


class JobTask(Task):  # type: ignore[misc]
    """Celery task whose message is ``(job_id, input)`` plus the ``version`` the API
    validated the input against; effects go to the store. One Celery task per task name
    serves every version of it this worker loaded."""

    throws = (JobNotSucceededError,)

    context: WorkerContext
    versions: dict[str, TaskDefinition]
    newest: TaskDefinition
    # Per process (a fork gets its own): set-up instances, and when a setup() last failed.
    _instances: dict[str, tuple[int, Any]]
    _setup_failed: dict[str, tuple[int, float, str]]

    def run_job(self, job_id: str, payload: dict[str, Any], version: str | None) -> None:
        ctx = self.context
        definition = self.versions.get(version) if version else self.newest
        if definition is None:
            # A job pinned to a version this worker does not have: leave it queued for a
            # worker that has it (a rolling upgrade), rather than run the wrong code.
            log.warning(
                "job %s: %s@%s is not loaded here (%s); put back, retried in %ss",
                job_id,
                self.newest.name,
                version,
                ", ".join(sorted(self.versions)),
                SETUP_RETRY_S,
            )
            raise self.retry(countdown=SETUP_RETRY_S, max_retries=None)
        try:
            instance = self._ready_instance(definition)
        except SetupFailedError as exc:
            log.warning(
                "job %s: %s is not set up in this process (%s); it stays queued, retried in %ss",
                job_id,
                definition.key,
                exc,
                SETUP_RETRY_S,
            )
            raise self.retry(countdown=SETUP_RETRY_S, max_retries=None) from None
        try:
            claim = ctx.store.start(job_id, self.max_attempts(definition), ctx.settings.lease_s)
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
                record_expired(ctx.store.redis, definition.name)
                return
            if not claim.run:
                log.info("job %s: %s (%s), not running it", job_id, claim.outcome, claim.detail)
                return
            log.info("job %s: %s attempt %s", job_id, definition.key, claim.detail)
            started = time.monotonic()
            if definition.batch is not None:
                outcome = batches.run(self, definition, instance, job_id, payload)
            else:
                with ctx.leases.hold(job_id):
                    outcome = self._execute(definition, instance, job_id, payload)
        except (redis.ConnectionError, redis.TimeoutError, SoftTimeLimitExceeded) as exc:
            # SoftTimeLimitExceeded here struck a store call whose reply was lost (a
            # partition), not the task's code (_execute records that as a timeout): the job
            # may be recorded started, so acking would strand it. Put it back; once its
            # lease lapses the next delivery runs it.
            delay = STORE_RETRY_DELAYS[min(self.request.retries, len(STORE_RETRY_DELAYS) - 1)]
            log.warning("job %s: store unreachable (%s); retrying in %ss", job_id, exc, delay)
            raise self.retry(countdown=delay, max_retries=STORE_MAX_RETRIES) from exc
        if outcome.status == "retrying":  # its failure is recorded as an attempt to retry
            raise self.retry(countdown=outcome.retry_in, max_retries=None)
        _report(job_id, outcome, time.monotonic() - started)

    def _ready_instance(self, definition: TaskDefinition) -> Any:
        """The task's instance in this process, set up on first use."""
        pid = os.getpid()
        key = definition.key
        held = self._instances.get(key)
        if held is not None and held[0] == pid:
            return held[1]
        failed = self._setup_failed.get(key)
        if failed is not None and failed[0] == pid and time.monotonic() - failed[1] < SETUP_RETRY_S:
            raise SetupFailedError(failed[2])
        node = str(self.request.hostname or f"pid-{pid}")
        registry = self.context.registry
        instance = definition.cls()
        setup = getattr(instance, "setup", None)
        if setup is not None:
            started = time.monotonic()
            try:
                setup()
            except Exception as exc:
                reason = f"setup() raised {type(exc).__name__}: {exc}"
                log.exception("%s: %s", key, reason)
                self._setup_failed[key] = (pid, time.monotonic(), reason)
                try:
                    registry.setup_failed(key, node, reason)
                except redis.RedisError:
                    log.warning("%s: could not report the setup failure", key)
                raise SetupFailedError(reason) from exc
            log.info("%s: set up in %.2fs", key, time.monotonic() - started)
            if failed is not None:  # else the error entry expires with the heartbeat
                with contextlib.suppress(redis.RedisError):
                    registry.setup_succeeded(key, node)
        self._instances[key] = (pid, instance)
        self._setup_failed.pop(key, None)
        return instance

    def max_attempts(self, definition: TaskDefinition) -> int:
        return definition.limits.max_attempts or self.context.settings.max_attempts

    def job_context(self, job_id: str) -> Context:
        store = self.context.store
        name = self.newest.name

        def progress(done: float, total: float | None, message: str | None) -> None:
            try:
                store.progress(job_id, done, total, message)
            except redis.RedisError as exc:  # progress is best effort; the job goes on
                log.warning("job %s: could not record progress: %s", job_id, exc)

        def cancelled() -> bool:
            try:
                return store.status(job_id) == "canceled"
            except redis.RedisError:
                return False

        return Context(
            job_id,
            egress=self.context.egress,
            progress=progress,
            is_cancelled=cancelled,
            cache=TaskCache(self.context, name),
            logger=logging.getLogger(f"asyncml.tasks.{name}"),
        )

    def _execute(
        self, definition: TaskDefinition, instance: Any, job_id: str, payload: dict[str, Any]
    ) -> Outcome:
        try:
            value = definition.input_model.model_validate(payload)
            result = instance.run(value, self.job_context(job_id))
            output = output_json(definition, result)
        except ValidationError as exc:
            return self._fail(job_id, "invalid_input", validation_message(exc))
        except OutputError as exc:
            log.error("job %s: %s", job_id, exc)
            return self._fail(job_id, "internal_error", str(exc))
        except JobError as exc:
            return self._job_error(definition, job_id, exc)
        except SoftTimeLimitExceeded:
            return self._fail(job_id, "timeout", self._timeout_message())
        except Terminated:  # a solo process stopped it: the store already says canceled
            return Outcome("canceled", "ok")
        except (redis.ConnectionError, redis.TimeoutError):
            raise
        except Exception as exc:
            log.exception("job %s: unexpected error", job_id)
            return self._fail(job_id, "internal_error", f"unexpected {type(exc).__name__}: {exc}")
        return Outcome("succeeded", self.context.store.succeed(job_id, output))

    def _job_error(self, definition: TaskDefinition, job_id: str, exc: JobError) -> Outcome:
        """A retryable error with attempts left is retried (asyncml.worker.retries); any
        other is the job's failure."""
        delay = retries.retry_in(self, definition, job_id, exc)
        if delay is not None:
            return Outcome("retrying", "ok", f"{exc.code}: {exc.message}", delay)
        return self._fail(job_id, exc.code, exc.message)

    def _fail(self, job_id: str, code: str, message: str) -> Outcome:
        return Outcome(
            "failed", self.context.store.fail(job_id, code, message), f"{code}: {message}"
        )

    def _timeout_message(self) -> str:
        # A job's own timeout_s comes in its message's time limits, (hard, soft).
        own = (getattr(self.request, "timelimit", None) or (None, None))[1]
        limit = own or self.soft_time_limit or self.context.settings.task_soft_time_limit_s
        return f"the job ran longer than its {limit:g}s limit and was stopped"

    def on_failure(self, exc: Exception, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        # A hard time limit kills the child process; this hook then runs in the parent.
        if isinstance(exc, TimeLimitExceeded):
            self.record_hard_timeout(task_id)

    def record_hard_timeout(self, job_id: str) -> None:
        """The job was stopped at the hard limit (by prefork's pool or a solo watchdog);
        with it, the rest of the batch it started, if it started one."""
        try:
            for stopped in self.context.store.batch_of(job_id):
                self.context.store.fail(stopped, "timeout", self._timeout_message())
        except redis.RedisError:
            log.exception("job %s: could not record the hard timeout", job_id)


def _report(job_id: str, outcome: Outcome, seconds: float) -> None:
    """One line with the job's outcome, at the level it deserves; then, for a job that did
    not succeed, the exception that makes Celery say so too."""
    final = outcome.final
    if final == "succeeded":
        log.info("job %s: succeeded in %.3fs", job_id, seconds)
        return
    if final == "failed":
        error = outcome.error if outcome.stored == "ok" else "a failure recorded earlier"
        log.warning("job %s: failed in %.3fs with %s", job_id, seconds, error)
    elif final == "canceled":  # someone asked for it: no problem to report
        log.info("job %s: canceled after %.3fs", job_id, seconds)
    else:
        log.warning("job %s: %s after %.3fs; nothing recorded", job_id, final, seconds)
    raise JobNotSucceededError(f"job {job_id} {final}")


class TaskCache:
    """``ctx.cache``: the job store's cache, namespaced by task name."""

    def __init__(self, context: WorkerContext, task_name: str) -> None:
        self._context = context
        self._prefix = f"{task_name}:"

    def get(self, key: str) -> Any | None:
        return self._context.store.cache_get(self._prefix + key)

    def set(self, key: str, value: Any, ttl_s: int | None = None) -> None:
        self._context.store.cache_set(self._prefix + key, value, ttl_s)
