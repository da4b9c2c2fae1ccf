"""What a worker tells operators: heartbeats, and the job id on every log line of a task.

The API publishes each job's task with the job id as the Celery task id, so the id a task
runs under is its job's id; a task about another job (a webhook delivery, say) passes
``job_id=`` as a keyword argument and is tagged with that instead.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from typing import Any

from celery import Celery, signals
from celery.platforms import SecurityWarning

from asyncml import logs
from asyncml.authoring import TaskDefinition
from asyncml.settings import Settings
from asyncml.worker import heartbeat

_installed: set[str] = set()


def _tag(task_id: str | None = None, kwargs: dict[str, Any] | None = None, **_: Any) -> None:
    logs.bind_job((kwargs or {}).get("job_id") or task_id)


def _untag(**_: Any) -> None:
    logs.bind_job(None)


def _own_logging(**_: Any) -> None:
    """Celery leaves logging alone when this signal has a receiver: the command set it up."""


def _quiet_banner(sender: Any = None, instance: Any = None, **_: Any) -> None:
    # The start-up banner (plain text on stdout, every task listed) is printed, not logged,
    # so no log level hides it: 6 of them buried `asyncml up`'s "is up" line. JSON logs
    # should be JSON only, too. ASYNCML_LOG_LEVEL=DEBUG shows it.
    if instance is not None:
        instance.quiet = True


# Celery's per-process start lines ("Connected to …", "… ready."): the asyncml worker
# command says once what it serves instead. Their failures are logged at WARNING and above.
_START_LOGGERS = ("celery.worker.consumer.connection", "celery.apps.worker")


def _quiet_start() -> None:
    for name in _START_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    # Celery warns, in nine lines per process, against running as root because a root
    # worker that accepted pickle could be made to run anything; asyncml accepts JSON only.
    warnings.filterwarnings("ignore", category=SecurityWarning)


def install(app: Celery, settings: Settings, tasks: Sequence[TaskDefinition]) -> None:
    heartbeat.install(app, settings, tasks)
    if "signals" in _installed:  # signals are per process, apps may be built more than once
        return
    _installed.add("signals")
    signals.task_prerun.connect(_tag, weak=False)
    signals.task_postrun.connect(_untag, weak=False)
    signals.setup_logging.connect(_own_logging, weak=False)
    if settings.log_format == "json" or settings.log_level != "DEBUG":
        signals.celeryd_init.connect(_quiet_banner, weak=False)
    if settings.log_level != "DEBUG":
        _quiet_start()
