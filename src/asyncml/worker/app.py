"""The Celery app factory, with the reliability settings every deployment gets."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from celery import Celery

from asyncml.authoring import TaskDefinition
from asyncml.queue.config import celery_app
from asyncml.settings import Settings


def create_celery(settings: Settings, tasks: Sequence[TaskDefinition] | None = None) -> Celery:
    """The Celery app. Without ``tasks`` it only publishes and asks the broker questions
    (the API); with them it is a worker's app, running those tasks."""
    app = celery_app(settings, tasks or ())
    if tasks is not None:
        from asyncml.worker import deadlines, delivery, observe, priorities, republish
        from asyncml.worker.context import WorkerContext

        ctx = WorkerContext(settings)
        observe.install(app, settings, tasks)
        by_name: dict[str, list[TaskDefinition]] = {}
        for definition in tasks:
            by_name.setdefault(definition.name, []).append(definition)
        for versions in by_name.values():
            register(app, ctx, versions)
        delivery.register(app, settings)
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
