"""The republisher: sends the task of a job again when the broker has lost its message.

kombu's Redis transport pops a message (``BRPOP``) and only then records it as unacknowledged,
from the worker's main process; a worker killed in between loses the message for good and
its job stays ``queued`` forever (celery/celery#7950, celery/kombu#305). RabbitMQ keeps
those, and the API publishes to it with confirms, but a node that crashes forgets what it
had not yet written of messages sent without them (``send_task`` here and in the webhook
sweeper), and a node can lose its disk. So every worker runs
this thread in its main process (a Celery bootstep, like the webhook sweeper). Every
``pass_every(after)`` seconds, for each job queue it serves, the worker that takes the
queue's lock (``SET NX PX`` in the job store) makes one pass:

1. the store picks the jobs waiting on the queue for longer than ``after`` seconds
   (``ASYNCML_REQUEUE_AFTER_S``) that no pass examined within the last ``after`` seconds,
   and marks them examined (one Lua script: two passes never pick the same job);
2. the broker is asked which of them still have a message: on Redis exactly, from one
   atomic snapshot of the queue's lists and the unacknowledged hash, taken twice a second
   apart so that a message caught between ``BRPOP`` and its unacked record is not mistaken
   for a lost one; RabbitMQ cannot be searched, so there only an empty queue counts;
3. each job still ``queued`` with no message gets its task sent again, exactly as the API
   publishes it (task name, ``(job_id, input)``, task id = job id, the job's queue), logged
   at WARNING and counted in the metrics hash (``republished|<task>``).

The same pass looks for **stranded running jobs**: a job ``started`` whose lease lapsed more
than ``after`` seconds ago (its worker is gone: a live one renews the lease every third of
``ASYNCML_LEASE_S``) and whose message is gone too (a RabbitMQ node that crashed before it
wrote the unacknowledged message; Celery terminates a task whose message can no longer be
acknowledged). The state scripts keep the jobs running on each queue in
``asyncml:running:<queue>`` (``asyncml.store.counters``). The broker is asked as for a
queued job: on Redis exactly (a message in the unacked hash comes back with the visibility
timeout), on RabbitMQ only a queue with nothing ready counts, so a backlog, which may hold
the job's redelivered message, is never doubled. The start script counts the attempt,
so a job stranded over and over ends ``failed``/``worker_lost`` at ``ASYNCML_MAX_ATTEMPTS``.

A job is therefore sent again at most once per ``after`` seconds, and only when nothing in
the broker can run it. A copy that is not needed after all is harmless: the start script
runs only a job that is still queued, a second copy of a started job waits while its lease
is fresh and then finds it finished, and results are recorded once.

The waiting set's scores (when each job was accepted) are left alone: they are the queue's
"oldest waiting job" age and each job's place in line. Examined jobs are kept in a set of
their own, ``asyncml:republish:seen:<queue>``, scored with when they were examined.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from typing import Any

import redis
from celery import Celery, bootsteps

from asyncml.queue.brokerview import BrokerView
from asyncml.queue.names import SERVICE_QUEUES
from asyncml.queue.publisher import send_job
from asyncml.scheduling import JobOptions, broker_priority
from asyncml.settings import Settings
from asyncml.store.keys import METRICS_KEY
from asyncml.store.sweeps import (
    BATCH,
    SCAN,
    forget,
    lock_key,
    pick,
    pick_stranded,
    seen_key,
    still_queued,
    take_turn,
)

log = logging.getLogger(__name__)

CONFIRM_S = 1.0  # between the two broker snapshots

# The store's side of a pass (picking, marking, reading jobs) is ``asyncml.store.sweeps``;
# these names stay importable from here for the republisher's tests and tools.
__all__ = [
    "BATCH",
    "SCAN",
    "Republisher",
    "forget",
    "install",
    "lock_key",
    "pass_every",
    "pick",
    "pick_stranded",
    "requeue_after",
    "seen_key",
    "still_queued",
    "take_turn",
]


def requeue_after(settings: Settings) -> float | None:
    """Seconds a job may wait before it is looked for in the broker; None when off.

    Unset: twice the visibility timeout, on every broker. A Redis broker loses a message
    whose worker is killed at the wrong moment; RabbitMQ does not, but a node that crashes
    forgets messages sent without confirms (``send_task``), so it runs there too."""
    if settings.requeue_after_s is None:
        return 2.0 * settings.visibility_timeout_s
    return settings.requeue_after_s or None


def pass_every(after: float) -> float:
    """How often a queue gets a pass: a lost job waits at most ``after`` plus this."""
    return min(max(after / 4, 0.5), 30.0)


class Republisher:
    """The thread: a pass per queue whenever this worker holds that queue's lock."""

    def __init__(
        self,
        app: Celery,
        settings: Settings,
        queues: list[str],
        node: str,
        celery_names: Mapping[str, str],
    ) -> None:
        after = requeue_after(settings)
        assert after is not None
        self.app, self.settings, self.after, self.node = app, settings, after, node
        self.celery_names = dict(celery_names)
        self.queues = [q for q in queues if q not in SERVICE_QUEUES]
        self.confirm_s = CONFIRM_S
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="republisher", daemon=True)

    def start(self) -> None:
        self._thread.start()
        log.debug(
            "republisher started: jobs of %s queued over %.0fs with no message are sent again",
            ",".join(self.queues),
            self.after,
        )

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        store = redis.Redis.from_url(
            self.settings.effective_store_url, socket_timeout=10, health_check_interval=30
        )
        broker = BrokerView(self.app)
        every = pass_every(self.after)
        try:
            while not self._stop.wait(every):
                for queue in self.queues:
                    try:
                        if take_turn(store, queue, self.node, every):
                            self.run_pass(store, broker, queue)
                            self.run_stranded_pass(store, broker, queue)
                    except Exception as exc:  # the broker or store is down: try next time
                        log.warning("republisher: %s pass failed: %s", queue, exc)
                        broker.close()
        finally:
            broker.close()
            store.close()

    def run_pass(
        self, store: redis.Redis, broker: BrokerView, queue: str, now: float | None = None
    ) -> list[str]:
        """One pass over ``queue``; returns the ids of the jobs sent again."""
        picked = pick(store, queue, time.time() if now is None else now, self.after)
        if not picked:
            return []
        jobs = still_queued(store, queue, picked, self.celery_names)
        lost = broker.missing(queue, jobs) if jobs else set()
        if lost:
            if self._stop.wait(self.confirm_s):  # shutting down: leave them to another pass
                forget(store, queue, lost)
                return []
            lost = broker.missing(queue, lost)  # a message in flight shows up by now
        jobs = still_queued(store, queue, sorted(lost), self.celery_names) if lost else {}
        return self._send(
            store,
            queue,
            jobs,
            "queued over %.0fs and the broker holds no message for it (lost with a killed "
            "worker or a broker crash); sent its task again",
        )

    def run_stranded_pass(
        self, store: redis.Redis, broker: BrokerView, queue: str, now: float | None = None
    ) -> list[str]:
        """One pass over the jobs started on ``queue`` whose worker and message are gone;
        returns the ids of the jobs sent again."""
        now = time.time() if now is None else now
        picked = pick_stranded(store, queue, now, self.after)
        if not picked:
            return []
        cutoff = now - self.after
        known = self.celery_names
        jobs = still_queued(store, queue, picked, known, stranded_before=cutoff)
        if jobs:
            lost = broker.missing(queue, jobs)
            if lost and self._stop.wait(self.confirm_s):
                forget(store, queue, lost)
                return []
            lost = broker.missing(queue, lost) if lost else lost
            jobs = still_queued(store, queue, sorted(lost), known, stranded_before=cutoff)
        return self._send(
            store,
            queue,
            jobs,
            "started, its lease lapsed over %.0fs ago and no message can run it (its "
            "worker and message were lost); sent its task again",
        )

    def _send(
        self,
        store: redis.Redis,
        queue: str,
        jobs: Mapping[str, tuple[str, Any, str | None, JobOptions]],
        why: str,
    ) -> list[str]:
        sent: list[str] = []
        try:
            for job_id, (task, payload, version, options) in jobs.items():
                send_job(
                    self.app,
                    self.celery_names[task],
                    job_id,
                    payload,
                    version,
                    queue,
                    **self.scheduling(self.celery_names[task], options),
                )
                sent.append(job_id)
                store.hincrby(METRICS_KEY, f"republished|{task}", 1)
                log.warning("job %s: " + why, job_id, self.after)
        finally:
            forget(store, queue, set(jobs) - set(sent))
        return sent

    def scheduling(self, celery_name: str, options: JobOptions) -> dict[str, Any]:
        """``send_task`` options that carry the job's priority and own time limit, as the
        API published them."""
        redis_broker = self.settings.broker_is_redis
        extra: dict[str, Any] = {"priority": broker_priority(options.priority, redis=redis_broker)}
        task = self.app.tasks.get(celery_name)
        soft = getattr(task, "soft_time_limit", None) or self.settings.task_soft_time_limit_s
        hard = getattr(task, "time_limit", None) or self.settings.task_time_limit_s
        if limits := options.time_limits(soft, hard):
            extra["soft_time_limit"], extra["time_limit"] = limits
        return extra


def install(app: Celery, settings: Settings, celery_names: Mapping[str, str]) -> None:
    """Run a republisher in every worker that consumes a job queue, unless it is off
    (``ASYNCML_REQUEUE_AFTER_S=0``); it re-sends jobs of the tasks in ``celery_names``."""
    if requeue_after(settings) is None:
        return

    class JobRepublisher(bootsteps.StartStopStep):  # type: ignore[misc]
        requires = {"celery.worker.components:Pool"}

        def __init__(self, worker: Any, **kwargs: Any) -> None:
            super().__init__(worker, **kwargs)
            self.republisher: Republisher | None = None

        def include_if(self, worker: Any) -> bool:
            return any(q not in SERVICE_QUEUES for q in worker.app.amqp.queues.consume_from)

        def start(self, worker: Any) -> None:
            queues = sorted(worker.app.amqp.queues.consume_from)
            self.republisher = Republisher(
                worker.app, settings, queues, worker.hostname, celery_names
            )
            self.republisher.start()

        def stop(self, worker: Any) -> None:
            if self.republisher is not None:
                self.republisher.stop()

    app.steps["worker"].add(JobRepublisher)
