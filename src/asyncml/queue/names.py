"""Which queues a worker consumes: its tasks' queues, and asyncml's own service queues.

Service queues carry asyncml's own work, not tasks a client can submit: ``webhooks``
delivers signed webhooks (``asyncml.worker.delivery``).
"""

from __future__ import annotations

from collections.abc import Iterable

from asyncml.authoring import TaskDefinition

WEBHOOK_QUEUE = "webhooks"
WEBHOOK_DELIVER_TASK = "asyncml.webhooks.deliver"
SERVICE_QUEUES: tuple[str, ...] = (WEBHOOK_QUEUE,)


def task_queues(tasks: Iterable[TaskDefinition]) -> tuple[str, ...]:
    return tuple(sorted({t.queue for t in tasks} - set(SERVICE_QUEUES)))


def all_queues(tasks: Iterable[TaskDefinition]) -> tuple[str, ...]:
    """Every queue a worker with these tasks can consume, service queues included."""
    return tuple(sorted(set(task_queues(tasks)) | set(SERVICE_QUEUES)))
