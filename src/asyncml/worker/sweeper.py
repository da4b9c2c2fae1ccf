"""The webhook sweeper: turns due deliveries in the store's outbox into task messages.

It runs as a thread in the main process of every worker that serves the ``webhooks``
queue (a Celery bootstep, so no ``celery beat`` is needed). It wakes when a state change
announces a new delivery on the outbox's pub/sub channel, or when the next retry falls due,
or after at most a second. Each pass claims what is due in one Lua script, so two workers
never dispatch the same attempt; a claimed delivery whose message is lost, or whose sender
dies, falls due again when its claim lapses.

Why not Celery countdowns: a Redis broker redelivers any message not acknowledged within
its visibility timeout (180 s here), and an ETA task is held unacknowledged until it runs,
so hour-long countdowns would be delivered again and again. Retries wait in the store.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import redis
from celery import Celery, bootsteps
from kombu.exceptions import KombuError

from asyncml.queue.names import WEBHOOK_DELIVER_TASK, WEBHOOK_QUEUE
from asyncml.queue.publisher import send_delivery
from asyncml.settings import Settings
from asyncml.store.deliveries import DeliveryStore
from asyncml.store.keys import WEBHOOK_KICK_CHANNEL
from asyncml.worker.republish import requeue_after

log = logging.getLogger(__name__)

BATCH = 500
IDLE_S = 1.0
# How long a dispatched message may wait in the queue before the sweeper sends another
# (the first to run wins; the other finds the attempt taken and does nothing). The wait
# doubles with each copy, so a backlog does not fill the queue with them.
DISPATCH_CLAIM_S = 60.0


def dispatch_claim_s(settings: Settings) -> float:
    """A Redis broker loses a webhook message the way it loses a job's (see
    ``asyncml.worker.republish``): a shorter ASYNCML_REQUEUE_AFTER_S shortens this wait too."""
    after = requeue_after(settings)
    return DISPATCH_CLAIM_S if after is None else min(DISPATCH_CLAIM_S, after)


class Sweeper:
    def __init__(self, app: Celery, settings: Settings) -> None:
        self.app = app
        self.settings = settings
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="webhook-sweeper", daemon=True)

    def start(self) -> None:
        self._thread.start()
        log.debug("webhook sweeper started")

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        backoff = 0.5
        while not self._stop.is_set():
            try:
                self._sweep()
                backoff = 0.5
            except (redis.RedisError, OSError, KombuError) as exc:
                log.warning("webhook sweeper: %s; trying again in %.1fs", exc, backoff)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 10.0)

    def _sweep(self) -> None:
        client = redis.Redis.from_url(
            self.settings.effective_store_url, socket_timeout=10, health_check_interval=30
        )
        store = DeliveryStore(client)
        pubsub = client.pubsub(ignore_subscribe_messages=True)
        attempts = len(self.settings.webhook_schedule)
        claim_s = dispatch_claim_s(self.settings)
        try:
            # Subscribe before the first pass: a kick sent during a pass is not missed.
            pubsub.subscribe(WEBHOOK_KICK_CHANNEL)
            while not self._stop.is_set():
                due, wait = store.dispatch(batch=BATCH, claim_s=claim_s, attempts=attempts)
                for member, attempt in due:
                    send_delivery(self.app, WEBHOOK_DELIVER_TASK, member, attempt, WEBHOOK_QUEUE)
                if due:
                    log.debug("webhook sweeper: dispatched %d", len(due))
                if len(due) >= BATCH:
                    continue
                timeout = IDLE_S if wait is None else min(wait, IDLE_S)
                if timeout > 0 and pubsub.get_message(timeout=timeout) is not None:
                    while pubsub.get_message(timeout=0) is not None:
                        pass  # one pass serves every kick received so far
        finally:
            pubsub.close()
            client.close()


def install(app: Celery, settings: Settings) -> None:
    """Run a sweeper in every worker that consumes the ``webhooks`` queue."""

    class WebhookSweeper(bootsteps.StartStopStep):  # type: ignore[misc]
        requires = {"celery.worker.components:Pool"}

        def __init__(self, worker: Any, **kwargs: Any) -> None:
            super().__init__(worker, **kwargs)
            self.sweeper: Sweeper | None = None

        def include_if(self, worker: Any) -> bool:
            return WEBHOOK_QUEUE in worker.app.amqp.queues.consume_from

        def start(self, worker: Any) -> None:
            self.sweeper = Sweeper(worker.app, settings)
            self.sweeper.start()

        def stop(self, worker: Any) -> None:
            if self.sweeper is not None:
                self.sweeper.stop()

    app.steps["worker"].add(WebhookSweeper)
