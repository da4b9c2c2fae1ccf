"""Retries with a policy: a job error marked retryable runs the job again after a backoff.

``TaskError(code, message, retryable=True)`` marks one, and so does a code the task names
in ``@asyncml.task(retry_on=(...))``; transient download failures (connection errors, HTTP
5xx, 408 and 429, timeouts) are marked by the egress client and retried unless
``ASYNCML_RETRY_TRANSIENT`` is off. While the job has attempts left (its
task's ``max_attempts``, else ``ASYNCML_MAX_ATTEMPTS``), the store keeps the attempt's
error in ``attempt_errors`` and leaves the job ``started``, leased until its retry is due,
with no terminal event: webhooks and ``completed`` events go out for the final outcome
only. The worker then sends the task again with that countdown (Celery's own retry, which
acknowledges the current message after the new one is published). The next attempt is
claimed like any delivery, counting the attempt; the last one's error is the job's error.

Delays: ``ASYNCML_RETRY_BACKOFF_S`` for the first retry, twice as long for each next one,
at most ``ASYNCML_RETRY_BACKOFF_MAX_S`` and under half the visibility timeout (a Redis
broker hands a message held that long to another worker), each within ±20 % (jitter).
"""

from __future__ import annotations

import logging
import random
from typing import TYPE_CHECKING

from asyncml.authoring import TaskDefinition, TaskError
from asyncml.errors import JobError

if TYPE_CHECKING:
    from asyncml.worker.base import JobTask

log = logging.getLogger(__name__)

JITTER = 0.2


def retry_in(task: JobTask, definition: TaskDefinition, job_id: str, exc: JobError) -> float | None:
    """Seconds until the job's next attempt, once this failed attempt is recorded as one to
    retry; None when it is not to be retried (the caller records the failure)."""
    settings = task.context.settings
    declared = exc.code in definition.retry_on  # @asyncml.task(retry_on=(...))
    transient = exc.retryable and (isinstance(exc, TaskError) or settings.retry_transient)
    if not (declared or transient):
        return None
    longest = min(settings.retry_backoff_max_s, settings.visibility_timeout_s / 2)
    backoff = (settings.retry_backoff_s, longest, random.uniform(1 - JITTER, 1 + JITTER))
    answer, value = task.context.store.retry(
        job_id, task.max_attempts(definition), (exc.code, exc.message), backoff
    )
    if answer != "retry":
        return None
    log.warning("job %s: %s: %s; retrying in %.1fs", job_id, exc.code, exc.message, value)
    return value
