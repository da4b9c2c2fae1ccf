"""What every server-side command needs before it does its own work: the settings (a bad
one is a clear error naming its variable), logging, the embedded server when no broker is
configured, the loaded tasks, and the task registry in the job store.

Shared by ``asyncml.cli`` and ``asyncml.monitor``, so neither imports the other.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Iterator
from types import FrameType
from typing import TYPE_CHECKING

import click
from pydantic import ValidationError

from asyncml import logs
from asyncml.settings import Settings, describe_errors

if TYPE_CHECKING:
    from asyncml.authoring import TaskDefinition
    from asyncml.embedded import EmbeddedServer
    from asyncml.store.registry import Registry


def load_settings(**overrides: object) -> Settings:
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})  # type: ignore[arg-type]
    except ValidationError as exc:
        lines = "\n".join(f"  {line}" for line in describe_errors(exc))
        raise click.ClickException(f"invalid configuration:\n{lines}") from None


def api_settings(insecure: bool, **overrides: object) -> Settings:
    """Settings for a command that serves the API: it refuses to listen beyond loopback
    without API keys unless told the risk is accepted."""
    if insecure:
        # Read by Settings here and by every process `asyncml up` starts.
        os.environ["ASYNCML_INSECURE_NO_AUTH"] = "true"
    settings = load_settings(**overrides)
    if problem := settings.exposure_problem():
        raise click.ClickException(problem)
    return settings


def configure_logging(level: str, fmt: logs.LogFormat = "text") -> None:
    logs.configure(level, fmt)


def ensure_embedded(settings: Settings) -> EmbeddedServer | None:
    """Start (or reuse) the embedded server when no broker is configured, as one of its
    users: when this process exits, the server stops unless another asyncml process still
    uses it (no Valkey left behind by an `asyncml api` or `worker` started alone)."""
    if not settings.embedded:
        return None
    from asyncml.embedded import EmbeddedServer, EmbeddedServerError

    server = EmbeddedServer(settings.data_dir, settings.socket_path)
    try:
        server.attach()
    except EmbeddedServerError as exc:
        raise click.ClickException(str(exc)) from None
    atexit.register(server.detach)
    # SIGTERM's default action ends a process without running exit handlers; raised as
    # SystemExit it unwinds like Ctrl-C, so this process leaves the server. uvicorn re-raises
    # the SIGTERM it caught once its graceful shutdown is done; Celery and the launcher
    # install handlers of their own.
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _exit_on_sigterm)
    return server


def _exit_on_sigterm(signum: int, _: FrameType | None) -> None:
    sys.exit(128 + signum)


def load_tasks(settings: Settings, extra: tuple[str, ...] = ()) -> list[TaskDefinition]:
    """The tasks of the installed packages' entry points, ASYNCML_TASKS and ``--tasks``."""
    from asyncml.plugins import TaskLoadError, discover

    strings = [*settings.tasks.split(","), *(p for item in extra for p in item.split(","))]
    try:
        found = discover([s for s in strings if s.strip()])
    except TaskLoadError as exc:
        raise click.ClickException(str(exc)) from None
    if not found:
        raise click.ClickException(
            "no tasks found: install a package that declares [project.entry-points."
            '"asyncml.tasks"], or name them with --tasks module:Class (or ASYNCML_TASKS)'
        )
    return found


@contextlib.contextmanager
def store_registry(settings: Settings) -> Iterator[Registry]:
    """The task registry in the job store; a store that does not answer is a clear error."""
    import redis

    from asyncml.store.registry import Registry

    client = redis.Redis.from_url(settings.effective_store_url, socket_timeout=5)
    try:
        yield Registry(client)
    except redis.RedisError as exc:
        raise click.ClickException(f"the job store did not answer: {exc}") from None
    finally:
        client.close()


def register_quietly(settings: Settings, tasks: list[TaskDefinition]) -> None:
    """Advertise the tasks now, before the worker connects: the API learns them at once.
    The worker's heartbeat writes them again, so a store that is down now is no obstacle."""
    try:
        with store_registry(settings) as registry:
            registry.register([t.manifest() for t in tasks])
    except click.ClickException as exc:
        logging.getLogger(__name__).warning("task registry not written yet: %s", exc.message)
