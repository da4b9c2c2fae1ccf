"""Celery's configuration for asyncml: late acks, prefetch 1, JSON only, the broker's
redelivery timing; and ``celery_app``, the Celery app built from it. The API publishes
through it (``queue.publisher``), workers register their tasks on it (``worker.app``)."""

from __future__ import annotations

from collections.abc import Sequence

from celery import Celery

from asyncml.authoring import TaskDefinition
from asyncml.queue.names import WEBHOOK_DELIVER_TASK, WEBHOOK_QUEUE
from asyncml.settings import Settings


def broker_transport_options(settings: Settings) -> dict[str, object]:
    """kombu's transport options for the broker (the Redis transport's redelivery timing)."""
    if not settings.broker_is_redis:
        return {}
    return {
        "visibility_timeout": settings.visibility_timeout_s,
        # Sweep for messages of dead workers often enough to honour a short timeout.
        "unacked_restore_interval": max(1, min(10, settings.visibility_timeout_s // 4)),
        "unacked_restore_throttle": 1,
        # A sweep holds a lock in the broker while it restores; a worker that dies
        # holding it (a host lost mid-sweep) stops every sweep until the lock expires:
        # kombu's 300 s stranded a lost host's jobs for minutes. A sweep takes
        # milliseconds, and two overlapping sweeps at worst put a message back twice
        # (the copy waits for the lease, then finds the job finished).
        "unacked_mutex_expire": max(5, min(30, settings.visibility_timeout_s // 2)),
        "socket_timeout": 10,
        "socket_connect_timeout": 5,
        "health_check_interval": 25,
    }


def celery_config(settings: Settings, tasks: Sequence[TaskDefinition] = ()) -> dict[str, object]:
    """Celery's settings: one place for the reliability choices every deployment gets."""
    return {
        "broker_url": settings.effective_broker_url,
        "broker_transport_options": broker_transport_options(settings),
        "broker_connection_retry_on_startup": True,
        "broker_connection_timeout": 4,
        "task_serializer": "json",
        "accept_content": ["json"],
        "result_serializer": "json",
        # Results live in the job store, not in a Celery result backend.
        "task_ignore_result": True,
        "result_backend": None,
        # At-least-once: ack after the task ran, put it back if its process dies, take one
        # message at a time so a dying worker strands nothing else.
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "task_acks_on_failure_or_timeout": True,
        "worker_prefetch_multiplier": 1,
        "worker_cancel_long_running_tasks_on_connection_loss": True,
        "task_soft_time_limit": settings.task_soft_time_limit_s,
        "task_time_limit": settings.task_time_limit_s,
        "task_routes": {t.celery_name: {"queue": t.queue} for t in tasks}
        | {WEBHOOK_DELIVER_TASK: {"queue": WEBHOOK_QUEUE}},
        "task_create_missing_queues": True,
        "task_publish_retry": True,
        "task_publish_retry_policy": {
            "max_retries": 2,
            "interval_start": 0,
            "interval_step": 0.5,
            "interval_max": 1,
        },
        "worker_hijack_root_logger": False,
        "worker_redirect_stdouts": False,
        # Task events for Flower (ASYNCML_TASK_EVENTS); off by default for throughput.
        "worker_send_task_events": settings.task_events,
        "task_send_sent_event": settings.task_events,
    }


def celery_app(settings: Settings, tasks: Sequence[TaskDefinition] = ()) -> Celery:
    """A Celery app configured for asyncml, with no task registered: enough to publish by
    task name and to ask the broker questions."""
    app = Celery("asyncml", set_as_current=False)
    app.conf.update(celery_config(settings, tasks))
    return app
