"""Priority queues on RabbitMQ, and what to do with a queue declared before them.

A RabbitMQ queue orders messages by priority only when it was *declared* with
``x-max-priority``; asyncml declares its queues with ``x-max-priority`` 9. A queue an older
asyncml declared without it cannot be changed in place: declaring it again with other
arguments is refused (``PRECONDITION_FAILED``, and the channel is closed). So before a
worker consumes, each of its queues is declared once on a channel of its own:

- accepted: the queue has priorities (new, or declared so before), and the worker
  declares it with them;
- refused: the queue predates priorities. The worker keeps consuming it as it is,
  without declaring it (any declare with other arguments would be refused), and logs a
  warning with the migration: let the queue drain, stop its workers and the API, delete
  it (``rabbitmqctl delete_queue <name> -p <vhost>``) and start them again; jobs still
  run meanwhile, in the order they came.

The API declares a queue it publishes to passively first, so it publishes to either kind
(``asyncml.api.amqp``). kombu's Redis transport needs no declaration: priorities there
are lists per priority step (``asyncml.scheduling``).
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from celery import Celery, signals

from asyncml.scheduling import AMQP_MAX_PRIORITY
from asyncml.settings import Settings

log = logging.getLogger(__name__)

ARGUMENTS = {"x-max-priority": AMQP_MAX_PRIORITY}
MIGRATION = (
    "queue %r was declared without priorities (by an older asyncml): its jobs run in the "
    "order they came, whatever their priority. To migrate: let it drain, stop its workers "
    "and the API, run `rabbitmqctl delete_queue %s -p <vhost>` and start them again "
    "(docs/operations.md, Priorities)"
)


def has_priorities(connection: Any, queue: str) -> bool:
    """Declare ``queue`` with priorities on a channel of its own; False when RabbitMQ
    refuses because it exists without them (or with another maximum)."""
    channel = connection.channel()
    try:
        channel.queue_declare(queue=queue, durable=True, auto_delete=False, arguments=ARGUMENTS)
    except connection.channel_errors as exc:
        if getattr(exc, "code", None) != 406:  # PRECONDITION_FAILED
            raise
        return False
    finally:
        with contextlib.suppress(Exception):  # already closed by the refusal
            channel.close()
    return True


def prepare(app: Celery, queues: Any) -> None:
    """Give each of the worker's queues priorities, or leave an old one undeclared."""
    with app.connection_for_write() as connection:
        connection.ensure_connection(max_retries=3)
        for queue in queues.consume_from.values():
            if has_priorities(connection, queue.name):
                queue.queue_arguments = dict(queue.queue_arguments or {}, **ARGUMENTS)
            else:
                queue.no_declare = True
                log.warning(MIGRATION, queue.name, queue.name)


def install(app: Celery, settings: Settings) -> None:
    """On RabbitMQ, prepare the queues once the worker knows them (after ``-Q``)."""
    if settings.broker_is_redis:
        return

    def after_setup(sender: Any = None, instance: Any = None, **_: Any) -> None:
        worker_app = getattr(instance, "app", None) or app
        prepare(worker_app, worker_app.amqp.queues)

    signals.celeryd_after_setup.connect(after_setup, weak=False)
