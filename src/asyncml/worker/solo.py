"""What a single-process (``--pool solo``) worker adds to Celery's solo pool.

Celery's solo pool runs each task inline in the worker's main thread: no pool process, no
pipe, no pickling, so a job costs less CPU than under prefork. It enforces no time limits
and has no parent to requeue a message when the process dies. This module supplies both,
for one worker process supervised by ``asyncml.worker.processes``:

- **time limits**: the soft limit raises ``SoftTimeLimitExceeded`` in the task (SIGALRM, as
  prefork's pool raises it with a signal); at the hard limit a watchdog thread records the
  job as timed out and ends the process, as prefork's pool kills its child. A job stuck
  where the watchdog cannot run (a C call holding the GIL) is killed by the supervisor;
- **cancels**: a job canceled while it runs is stopped the same way, with ``Terminated``
  (prefork kills the child instead, on the API's revoke; see ``asyncml.worker.cancels``);
- **the messages in hand** (``InHand``): the delivery tags of the messages this process
  holds and the hard deadline of the job it runs, in a file the supervisor reads: to
  enforce that deadline from outside, and to put those messages back on the Redis broker at
  once when the process dies (kombu would leave them unacked until the visibility timeout).
- **Ctrl-C**: a terminal's SIGINT reaches every process of the group; a solo process
  ignores it and stops when its supervisor sends SIGTERM (a warm shutdown: the job in hand
  finishes). A second Ctrl-C would otherwise be Celery's cold shutdown, which the solo
  pool cannot carry out without failing the running job.
"""

from __future__ import annotations

import logging
import math
import mmap
import os
import signal
import struct
import threading
import time
from pathlib import Path
from types import FrameType
from typing import Any

from billiard.exceptions import Terminated
from celery import Celery, Task, signals
from celery.exceptions import SoftTimeLimitExceeded

from asyncml.worker.cancels import CancelWatch

log = logging.getLogger(__name__)

HARD_LIMIT_EXIT = 75  # the process's exit code when the watchdog ends it


class InHand:
    """The tags of the messages this process holds and the running job's hard deadline
    (``time.monotonic()``, system-wide on Linux; 0: none), in a small memory-mapped file
    its supervisor reads: a memory write per change, no system call on a job's path.

    A sequence number, odd while a write is under way, lets a reader tell a whole record
    from half of one (a seqlock: ``read`` retries, or gives up and reports nothing).
    """

    SIZE = 4096
    _HEAD = struct.Struct("<QdI")  # sequence, deadline, length of the tags that follow

    def __init__(self, path: Path) -> None:
        path.write_bytes(bytes(self.SIZE))
        with path.open("r+b") as file:
            self._map = mmap.mmap(file.fileno(), self.SIZE)
        self._sequence = 0
        self.tags: dict[str, str] = {}  # task id -> delivery tag
        self.deadline = 0.0

    def received(self, task_id: str, tag: str) -> None:
        self.tags[task_id] = tag
        self._write()

    def running(self, deadline: float) -> None:
        self.deadline = deadline
        self._write()

    def released(self, task_id: str) -> None:
        """A message of a batch was acked (or put back) while its batch runs on."""
        if self.tags.pop(task_id, None) is not None:
            self._write()

    def finished(self, task_id: str | None) -> None:
        self.tags.pop(task_id or "", None)
        self.deadline = 0.0
        self._write()

    def _write(self) -> None:
        tags = "\n".join(self.tags.values()).encode()
        room = self.SIZE - self._HEAD.size
        if len(tags) > room:  # more held than fits: keep the newest (the rest: visibility timeout)
            tags = tags[-room:].partition(b"\n")[2]
        self._sequence += 1  # odd: writing
        self._HEAD.pack_into(self._map, 0, self._sequence, self.deadline, len(tags))
        self._map[self._HEAD.size : self._HEAD.size + len(tags)] = tags
        self._sequence += 1  # even: whole
        self._HEAD.pack_into(self._map, 0, self._sequence, self.deadline, len(tags))

    @classmethod
    def read(cls, path: Path) -> tuple[float, list[str]]:
        """(deadline, tags) as last written whole; (0, []) when there is no such record."""
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return 0.0, []
        for _ in range(3):
            sequence, deadline, length = cls._HEAD.unpack_from(data)
            tags = data[cls._HEAD.size : cls._HEAD.size + length]
            if sequence % 2 == 0 and cls._HEAD.unpack_from(path.read_bytes())[0] == sequence:
                return deadline, [tag for tag in tags.decode().split("\n") if tag]
            data = path.read_bytes()
        return 0.0, []


class TimeLimits:
    """Soft and hard limits for the task running in the main thread, one task at a time.

    The watchdog thread sleeps until the deadline it last saw and is woken only when a new
    deadline comes before that (in practice: the first job after an idle spell), not for
    every job: a wake-up per job cost more CPU than the rest of the pool's bookkeeping.
    """

    def __init__(self, on_hard_limit: Any) -> None:
        self._on_hard_limit = on_hard_limit  # called with (task, job id) from the watchdog
        self._lock = threading.Condition()
        self._armed = False  # a soft-limit alarm that fires while False is ignored
        self._alarm_installed = False
        self._job_id: str | None = None  # the running job's, while one runs
        self._canceled = False  # the alarm that fires next is its cancel
        # (task, job id, hard deadline) of the running job; None while none runs.
        self._running: tuple[Any, str | None, float] | None = None
        self._wakes_at = math.inf  # when the watchdog will next look (inf: when woken)
        self._thread: threading.Thread | None = None

    def arm(
        self, task: Task, soft_s: float | None, hard_s: float | None, *, cancelable: bool = True
    ) -> float:
        """Start the clocks for ``task``; returns its hard deadline (monotonic; 0: none).
        A task that is not ``cancelable`` (a batch, whose other jobs must go on) is not
        stopped when its job is canceled."""
        deadline = 0.0
        # The job id is read here: a task's request is thread-local in Celery.
        job_id = getattr(task.request, "id", None)
        with self._lock:
            self._job_id, self._canceled = job_id if cancelable else None, False
        if not self._alarm_installed:
            signal.signal(signal.SIGALRM, self._soft_limit)
            self._alarm_installed = True
        self._armed = True
        if hard_s:
            deadline = time.monotonic() + hard_s
            with self._lock:
                self._running = (task, job_id, deadline)
                if self._thread is None:
                    self._thread = threading.Thread(target=self._watch, name="hard-limit")
                    self._thread.daemon = True
                    self._thread.start()
                if deadline < self._wakes_at:
                    self._lock.notify()
        if soft_s:
            signal.setitimer(signal.ITIMER_REAL, soft_s)
        return deadline

    def cancel(self, job_id: str) -> None:
        """Stop the running job if it is ``job_id`` (from any thread)."""
        with self._lock:  # arm and disarm change the running job under it
            if job_id != self._job_id or not self._armed:
                return
            self._canceled = True
            log.info("job %s: canceled while running; stopping it", job_id)
            # To the main thread itself: only there does the signal interrupt a blocking
            # call (a read from a server that never answers) so the handler can raise.
            signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGALRM)

    def disarm(self) -> None:
        try:
            self._armed = False  # from here a late alarm is ignored
        finally:  # even if the alarm fired just before and raised here
            signal.setitimer(signal.ITIMER_REAL, 0)
            with self._lock:
                self._running = None
                self._job_id = None

    def _soft_limit(self, signum: int, frame: FrameType | None) -> None:
        if self._armed:
            self._armed = False
            if self._canceled:
                raise Terminated(signal.SIGALRM)
            raise SoftTimeLimitExceeded()

    def _watch(self) -> None:
        with self._lock:
            while True:
                if self._running is None:
                    self._wakes_at = math.inf
                    self._lock.wait()
                    continue
                task, job_id, deadline = self._running
                if deadline > time.monotonic():
                    self._wakes_at = deadline
                    self._lock.wait(deadline - time.monotonic())
                    continue
                try:
                    self._on_hard_limit(task, job_id)
                finally:
                    os._exit(HARD_LIMIT_EXIT)


def _limits_of(task: Task) -> tuple[float | None, float | None]:
    """(soft, hard) seconds: the message's own, else the task's, else the app's."""
    hard, soft = task.request.timelimit or (None, None)
    conf = task.app.conf
    soft = soft or task.soft_time_limit or conf.task_soft_time_limit
    hard = hard or task.time_limit or conf.task_time_limit
    return soft, hard


def _record_hard_timeout(task: Any, job_id: str | None) -> None:
    """What prefork's parent does when it kills a child at the hard limit (JobTask.on_failure)."""
    log.error("task %s ran past its hard time limit; ending this worker process", job_id)
    record = getattr(task, "record_hard_timeout", None)
    if record is not None and job_id:
        record(job_id)


def install(app: Celery, in_hand_file: Path) -> None:
    """Make this process's Celery worker a supervised solo process."""
    in_hand = InHand(in_hand_file)
    limits = TimeLimits(_record_hard_timeout)

    def received(request: Any = None, **_: Any) -> None:
        tag = getattr(getattr(request, "message", None), "delivery_tag", None)
        if tag:
            in_hand.received(request.id, str(tag))

    watching: list[CancelWatch] = []

    def prerun(task: Task | None = None, **_: Any) -> None:
        if task is None:
            return
        context = getattr(task, "context", None)  # a job's task (not a webhook's) has one
        if not watching and context is not None:  # the store's address comes with it
            watching.append(CancelWatch(context.settings.effective_store_url, limits.cancel))
            watching[0].start()
        if context is not None:  # a batch tells the supervisor of the messages it takes
            context.holder = in_hand
        batched = getattr(getattr(task, "newest", None), "batch", None) is not None
        in_hand.running(limits.arm(task, *_limits_of(task), cancelable=not batched))

    def postrun(task_id: str | None = None, **_: Any) -> None:
        limits.disarm()
        in_hand.finished(task_id)

    def ready(**_: Any) -> None:  # after Celery installed its own SIGINT handler
        signal.signal(signal.SIGINT, signal.SIG_IGN)

    signals.task_received.connect(received, weak=False)
    signals.task_prerun.connect(prerun, weak=False)
    signals.task_postrun.connect(postrun, weak=False)
    signals.worker_ready.connect(ready, weak=False)
