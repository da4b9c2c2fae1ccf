"""The Celery app factory, with the reliability settings every deployment gets."""

from __future__ import annotations

from celery import Celery

from asyncml.catalog import TASKS, WEBHOOK_DELIVER_TASK, WEBHOOK_QUEUE
from asyncml.settings import Settings


def celery_config(settings: Settings) -> dict[str, object]:
    transport: dict[str, object] = {}
    if settings.broker_is_redis:
        transport = {
            "visibility_timeout": settings.visibility_timeout_s,
            # Sweep for messages of dead workers often enough to honour a short timeout.
            "unacked_restore_interval": max(1, min(10, settings.visibility_timeout_s // 4)),
            "unacked_restore_throttle": 1,
            "socket_timeout": 10,
            "socket_connect_timeout": 5,
            "health_check_interval": 25,
        }
    return {
        "broker_url": settings.effective_broker_url,
        "broker_transport_options": transport,
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
        "task_routes": {spec.celery_name: {"queue": spec.queue} for spec in TASKS.values()}
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


def create_celery(settings: Settings, *, with_tasks: bool = True) -> Celery:
    """The Celery app. The API builds it ``with_tasks=False``: it only publishes by name."""
    app = Celery("asyncml", set_as_current=False)
    app.conf.update(celery_config(settings))
    if with_tasks:
        from asyncml.worker import audio, euro, observe, republish, webhooks
        from asyncml.worker.context import WorkerContext

        ctx = WorkerContext(settings)
        observe.install(app, settings)
        audio.register(app, ctx)
        euro.register(app, ctx)
        webhooks.register(app, settings)
        republish.install(app, settings)
    return app
