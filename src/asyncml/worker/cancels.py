"""Cancels of running jobs, as a solo worker process hears of them.

Under prefork, the API's revoke (``terminate=True``) reaches the pool's parent, which kills
the child running the job. A solo process runs the job in the very thread that would have
to read that revoke, so it only sees it once the job is over: the job kept its process for
as long as it ran (a minute for a download from a server that never answers).

Here one thread per solo process listens on the store's cancel channel
(``asyncml.store.CANCEL_CHANNEL``, published after the record says canceled): one
subscription per process, no work per job, and a message only per cancel. The process then
interrupts its job in place, as the soft time limit does (``asyncml.worker.solo``), rather
than being killed and restarted by its supervisor: the process, its model and its
connections stay, and the next job starts at once instead of after a process start.

A cancel published while the subscription is down (the store restarting) is missed: that
job runs to its end as before, and its result is still dropped (the record says canceled).

The API still broadcasts the revoke (prefork needs it). Every worker node that does not run
the job asks its result backend about the task before marking it revoked; Celery's disabled
backend answers with an error, logged as a warning by each node on each cancel.
``NoResults`` answers instead: nothing kept here, so nothing to mark.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import redis
from celery import states
from celery.backends.base import DisabledBackend

from asyncml.store.keys import CANCEL_CHANNEL

log = logging.getLogger(__name__)

RECONNECT_S = 1.0


class CancelWatch:
    """Calls ``on_cancel(job_id)`` from its own thread for each job canceled anywhere."""

    def __init__(self, store_url: str, on_cancel: Callable[[str], None]) -> None:
        self._url = store_url
        self._on_cancel = on_cancel
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="cancels", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        failing = False
        while not self._stop.is_set():
            client = redis.Redis.from_url(self._url, socket_connect_timeout=5)
            try:
                pubsub = client.pubsub(ignore_subscribe_messages=True)
                pubsub.subscribe(CANCEL_CHANNEL)
                failing = False
                for message in pubsub.listen():  # type: ignore[no-untyped-call]
                    data = message.get("data")
                    if isinstance(data, bytes):
                        self._on_cancel(data.decode())
            except redis.RedisError as exc:
                if not failing:
                    log.warning("cancels: lost the job store (%s); cancels wait until back", exc)
                failing = True
            finally:
                client.close()
            self._stop.wait(RECONNECT_S)


class NoResults(DisabledBackend):  # type: ignore[misc]
    """The worker's result backend: results live in the job store, none here."""

    def get_state(self, task_id: str) -> str:
        return str(states.PENDING)  # as Celery reports a task it has no result for
