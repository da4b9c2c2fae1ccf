"""What a single-process (``--pool solo``) worker adds to Celery's solo pool.

Celery's solo pool runs each task inline in the worker's main thread: no pool process, no
pipe, no pickling, so a job costs less CPU than under prefork. It enforces no time limits
and has no parent to requeue a message when the process dies. This module supplies both,
for one worker process supervised by ``asyncml.worker.processes``:

- **time limits**: the soft limit raises ``SoftTimeLimitExceeded`` in the task (SIGALRM, as
  prefork's pool raises it with a signal); at the hard limit a watchdog thread records the
  job as timed out and ends the process, as prefork's pool kills its child;
- **the message in hand**: the delivery tag of each message the worker receives is written
  to a file its supervisor reads when the process dies, so the supervisor can put the
  message back on a Redis broker at once (RabbitMQ requeues it when the connection drops);
- **acks sent at once** (``ImmediateAckConsumer``): Celery queues an ack on its event loop
  and sends it after the loop's next poll. Under prefork a pool result wakes that poll; a
  solo process has nothing to wake it, and on RabbitMQ with prefetch 1 the broker sends
  nothing more until it has the ack, so each job waited for a timer (up to 2 s).
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from pathlib import Path
from types import FrameType
from typing import Any

from celery import Celery, Task, signals
from celery.exceptions import SoftTimeLimitExceeded
from celery.worker.consumer.consumer import Consumer
from vine import ppartial

log = logging.getLogger(__name__)

HARD_LIMIT_EXIT = 75  # the process's exit code when the watchdog ends it


class TimeLimits:
    """Soft and hard limits for the task running in the main thread, one task at a time."""

    def __init__(self, on_hard_limit: Any) -> None:
        self._on_hard_limit = on_hard_limit
        self._lock = threading.Condition()
        self._deadline: float | None = None
        self._task: Any = None
        self._thread: threading.Thread | None = None

    def arm(self, task: Task, soft_s: float | None, hard_s: float | None) -> None:
        if soft_s:
            signal.signal(signal.SIGALRM, _raise_soft_limit)
            signal.setitimer(signal.ITIMER_REAL, soft_s)
        if hard_s:
            with self._lock:
                self._deadline = time.monotonic() + hard_s
                self._task = task
                if self._thread is None:
                    self._thread = threading.Thread(target=self._watch, name="hard-limit")
                    self._thread.daemon = True
                    self._thread.start()
                self._lock.notify()

    def disarm(self) -> None:
        signal.setitimer(signal.ITIMER_REAL, 0)
        with self._lock:
            self._deadline = None
            self._task = None

    def _watch(self) -> None:
        with self._lock:
            while True:
                if self._deadline is None:
                    self._lock.wait()
                    continue
                left = self._deadline - time.monotonic()
                if left > 0:
                    self._lock.wait(left)
                    continue
                self._on_hard_limit(self._task)
                os._exit(HARD_LIMIT_EXIT)


def _raise_soft_limit(signum: int, frame: FrameType | None) -> None:
    raise SoftTimeLimitExceeded()


def _limits_of(task: Task) -> tuple[float | None, float | None]:
    """(soft, hard) seconds: the message's own, else the task's, else the app's."""
    hard, soft = task.request.timelimit or (None, None)
    conf = task.app.conf
    soft = soft or task.soft_time_limit or conf.task_soft_time_limit
    hard = hard or task.time_limit or conf.task_time_limit
    return soft, hard


def _record_hard_timeout(task: Any) -> None:
    """What prefork's parent does when it kills a child at the hard limit (JobTask.on_failure)."""
    job_id = task.request.id if task is not None else None
    log.error("task %s ran past its hard time limit; ending this worker process", job_id)
    record = getattr(task, "record_hard_timeout", None)
    if record is not None and job_id:
        record(job_id)


class ImmediateAckConsumer(Consumer):  # type: ignore[misc]
    """Sends an ack (or reject) when it is made, if made on the event loop's own thread."""

    def call_soon_ack(self, p: Any, *args: Any, **kwargs: Any) -> Any:
        hub = self.hub
        # kombu's Hub records the thread running its loop (kombu 5.7: Hub._loop_thread);
        # tests/unit/worker/test_solo.py fails if that attribute goes away.
        if hub is not None and getattr(hub, "_loop_thread", None) == threading.get_ident():
            call = ppartial(p, *args, **kwargs)
            call()
            return call
        return super().call_soon_ack(p, *args, **kwargs)


def install(app: Celery, inflight: Path) -> TimeLimits:
    """Make this process's Celery worker a supervised solo process: acks sent at once, the
    time limits and the in-hand record connected to its signals."""
    app.conf.worker_consumer = f"{__name__}:ImmediateAckConsumer"
    limits = TimeLimits(_record_hard_timeout)

    def received(request: Any = None, **_: Any) -> None:
        tag = getattr(getattr(request, "message", None), "delivery_tag", None)
        if tag:
            inflight.write_text(str(tag))

    def prerun(task: Task | None = None, **_: Any) -> None:
        if task is not None:
            limits.arm(task, *_limits_of(task))

    def postrun(**_: Any) -> None:
        limits.disarm()

    signals.task_received.connect(received, weak=False)
    signals.task_prerun.connect(prerun, weak=False)
    signals.task_postrun.connect(postrun, weak=False)
    return limits
