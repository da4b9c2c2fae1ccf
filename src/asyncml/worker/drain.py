"""A batched task's further messages, taken straight from the broker by the process that
runs the batch (see docs/batching.md).

Celery hands a worker process one message at a time (prefetch 1, late ack). To make a batch,
the process running the first job takes the next waiting messages of the same queue with a
``basic_get`` on a kombu connection of its own, each unacknowledged, exactly as Celery's
consumer holds its message:

- on RabbitMQ the broker holds them against this connection: if the process dies, the
  connection closes and the broker puts them back at once;
- on a Redis broker kombu records each in its unacknowledged hash before returning it: a
  dead process's messages come back when its supervisor restores the tags it held
  (``asyncml.worker.solo.InHand``), or after the visibility timeout otherwise.

Each message is acknowledged on its own, after its job's result is stored. A message the
batch cannot take (another task or version on the same queue, one not due yet, one that
is not a job at all) is put back at the head of the queue, and the batch stops gathering.

The connection sends no AMQP heartbeats (``heartbeat=0``): nobody would answer them while
a batch runs; the broker notices a dead process from its closed socket.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from dataclasses import dataclass
from typing import Any

from kombu.connection import Connection
from kombu.entity import Queue

from asyncml.settings import Settings
from asyncml.worker.app import celery_config
from asyncml.worker.transport import restore_at_head

log = logging.getLogger(__name__)


@dataclass
class Delivery:
    """One message taken for a batch: the job it carries, or ``job_id`` "" when it is not a
    job message this worker understands."""

    message: Any  # kombu.message.Message (untyped)
    task: str
    job_id: str
    payload: dict[str, Any]
    version: str | None
    eta: dt.datetime | None

    @property
    def tag(self) -> str:
        return str(self.message.delivery_tag)

    def due(self) -> bool:
        return self.eta is None or self.eta <= dt.datetime.now(dt.UTC)


def decode(message: Any) -> Delivery:
    """The job in a Celery protocol 2 message ``[[job_id, payload], {"version": …}, embed]``."""
    headers = message.headers or {}
    task, eta = str(headers.get("task") or ""), _eta(headers.get("eta"))
    try:
        args, kwargs, _ = message.decode()
        job_id, payload = args[0], args[1]
        version = kwargs.get("version")
        if not isinstance(job_id, str) or not isinstance(payload, dict):
            raise TypeError("not (job_id, payload)")
    except Exception as exc:
        log.warning("batch: message %s is not a job (%s); put back", message.delivery_tag, exc)
        return Delivery(message, task, "", {}, None, eta)
    return Delivery(message, task, job_id, payload, version, eta)


def _eta(value: object) -> dt.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        eta = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return eta if eta.tzinfo else eta.replace(tzinfo=dt.UTC)


class Drain:
    """This process's connection for taking batch messages (rebuilt after a fork)."""

    def __init__(self, settings: Settings) -> None:
        self.url = settings.effective_broker_url
        self.options = celery_config(settings)["broker_transport_options"]
        self.redis = settings.broker_is_redis
        self._pid: int | None = None
        self._connection: Any = None
        self._channel: Any = None

    def _ready_channel(self) -> Any:
        if self._pid != os.getpid() or self._channel is None:
            self._pid = os.getpid()
            self._connection = Connection(  # type: ignore[no-untyped-call]
                self.url, transport_options=self.options, heartbeat=0, connect_timeout=4
            )
            self._channel = self._connection.channel()
        return self._channel

    def take(self, queue: str) -> Delivery | None:
        """The next message waiting on ``queue``, unacknowledged; None when none waits (or
        the broker cannot be reached: the batch then runs with what it has)."""
        try:
            source: Any = Queue(queue, channel=self._ready_channel())  # type: ignore[no-untyped-call]
            message = source.get(no_ack=False, accept=["json"])
        except Exception as exc:
            log.warning("batch: could not take more messages from %s: %s", queue, exc)
            self._reset()
            return None
        return None if message is None else decode(message)

    def ack(self, delivery: Delivery) -> None:
        """After the job's outcome is stored. A failure leaves the message to come back
        as a redelivery, which the store answers with the outcome already recorded."""
        try:
            delivery.message.ack()
        except Exception as exc:
            log.warning("job %s: could not acknowledge its message: %s", delivery.job_id, exc)
            self._reset()

    def put_back(self, delivery: Delivery) -> None:
        """Return a message the batch does not run, to the head of its queue."""
        try:
            if self.redis:
                restore_at_head(self._channel, delivery.tag)
            else:
                delivery.message.reject(requeue=True)
        except Exception as exc:  # the broker brings it back itself (closed connection, timeout)
            log.warning("batch: could not put back message %s: %s", delivery.tag, exc)
            self._reset()

    def _reset(self) -> None:
        """Drop the connection; on RabbitMQ the broker requeues whatever it still held."""
        connection, self._connection, self._channel = self._connection, None, None
        if connection is not None:
            try:
                connection.release()
            except Exception:
                log.debug("batch: closing a broken connection failed", exc_info=True)
