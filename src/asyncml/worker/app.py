"""The Celery app factory, with the reliability settings every deployment gets."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from celery import Celery

from asyncml.authoring import TaskDefinition
from asyncml.settings import Settings
from asyncml.worker.queues import WEBHOOK_DELIVER_TASK, WEBHOOK_QUEUE


def celery_config(settings: Settings, tasks: Sequence[TaskDefinition] = ()) -> dict[str, object]:
    transport: dict[str, object] = {}
    if settings.broker_is_redis:
        transport = {
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


def create_celery(settings: Settings, tasks: Sequence[TaskDefinition] | None = None) -> Celery:
    """The Celery app. Without ``tasks`` it only publishes and asks the broker questions
    (the API); with them it is a worker's app, running those tasks."""
    app = Celery("asyncml", set_as_current=False)
    app.conf.update(celery_config(settings, tasks or ()))
    if tasks is not None:
        from asyncml.worker import deadlines, observe, priorities, republish, webhooks
        from asyncml.worker.context import WorkerContext

        ctx = WorkerContext(settings)
        observe.install(app, settings, tasks)
        by_name: dict[str, list[TaskDefinition]] = {}
        for definition in tasks:
            by_name.setdefault(definition.name, []).append(definition)
        for versions in by_name.values():
            register(app, ctx, versions)
        webhooks.register(app, settings)
        republish.install(app, settings, {t.name: t.celery_name for t in tasks})
        deadlines.install(app, settings)
        priorities.install(app, settings)
        # Answers a revoke's question about results instead of logging a warning per node.
        app.conf.result_backend = "asyncml.worker.cancels:NoResults"
    return app


def check_limits(settings: Settings, tasks: Sequence[TaskDefinition]) -> None:
    """Refuse a task whose own time limit would outlast the broker's redelivery window."""
    for t in tasks:
        hard = t.limits.time_limit_s or settings.task_time_limit_s
        soft = t.limits.soft_time_limit_s or settings.task_soft_time_limit_s
        if hard >= settings.visibility_timeout_s:
            raise ValueError(
                f"task {t.key}: its hard time limit ({hard}s) must stay below "
                f"ASYNCML_VISIBILITY_TIMEOUT_S ({settings.visibility_timeout_s}s), or the "
                "broker hands a running job to a second worker; raise the timeout"
            )
        if soft >= hard:
            raise ValueError(
                f"task {t.key}: its soft time limit ({soft}s) must be below its hard "
                f"limit ({hard}s); set both with @asyncml.task(soft_time_limit_s=…, "
                "time_limit_s=…)"
            )


def register(app: Celery, ctx: Any, versions: Sequence[TaskDefinition]) -> None:
    """Make the versions of one task a Celery task named after it (``asyncml.<name>``);
    each message names the version its input was validated against. Time limits are the
    newest version's."""
    from asyncml.worker.base import JobTask

    newest = versions[-1]  # discovery sorts by name, then version
    limits = newest.limits

    @app.task(
        name=newest.celery_name,
        bind=True,
        base=JobTask,
        context=ctx,
        versions={d.version: d for d in versions},
        newest=newest,
        _instances={},
        _setup_failed={},
        soft_time_limit=limits.soft_time_limit_s,
        time_limit=limits.time_limit_s,
    )
    def run(
        self: JobTask, job_id: str, payload: dict[str, Any], version: str | None = None
    ) -> None:
        self.run_job(job_id, payload, version)
