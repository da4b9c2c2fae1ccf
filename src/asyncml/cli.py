"""The ``asyncml`` command: run the API, the workers, or the whole system at once."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from asyncml.console import register as register_client_commands
from asyncml.monitor import flower
from asyncml.runtime import (
    api_settings,
    configure_logging,
    ensure_embedded,
    load_settings,
    load_tasks,
    register_quietly,
    store_registry,
)

if TYPE_CHECKING:
    from asyncml.authoring import TaskDefinition


TASKS_OPTION = click.option(
    "--tasks",
    "-t",
    "extra_tasks",
    multiple=True,
    metavar="MODULE[:ATTR]",
    help="Also load these task classes or modules (repeatable or comma-separated), besides "
    "the installed packages' asyncml.tasks entry points [env: ASYNCML_TASKS].",
)


HOST = click.option(
    "--host", default=None, help="Interface to listen on [default: 127.0.0.1, or ASYNCML_HOST]."
)
PORT = click.option(
    "--port", type=int, default=None, help="Port to listen on [default: 5000, or ASYNCML_PORT]."
)
INSECURE = click.option(
    "--insecure",
    is_flag=True,
    default=False,
    help="Listen beyond loopback without API keys (or ASYNCML_INSECURE_NO_AUTH=true).",
)
DATA_DIR = click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Embedded mode's data directory [default: ~/.local/share/asyncml, or ASYNCML_DATA_DIR].",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="asyncml")
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default=None,
    help="Log lines as text or JSON objects [default: text, or ASYNCML_LOG_FORMAT].",
)
def main(log_format: str | None) -> None:
    """asyncml: an asynchronous ML inference service.

    With nothing configured everything runs on this machine (broker and job store in an
    embedded Valkey server under the data directory). Set ASYNCML_BROKER_URL
    (amqp://… or redis://…) and ASYNCML_STORE_URL (redis://…) to run the API and the
    workers as separate processes on separate hosts.

    \b
    Start everything:        asyncml up
    Only the HTTP API:       asyncml api --host 0.0.0.0 --port 5000
    Only workers:            asyncml worker --queues audio,euro --concurrency 4
    Monitor the workers:     asyncml flower --port 5555      (needs the `ops` extra)
    Settings and checks:     asyncml doctor

    \b
    Client commands (--url: default $ASYNCML_URL, else the local API that
    ASYNCML_HOST and ASYNCML_PORT describe, http://127.0.0.1:5000 by default):
    The original demo:       asyncml demo        (starts its own system; offline)
    Run a task per input:    asyncml run audio.length https://…/a.wav https://…/b.wav
    One job:                 asyncml submit euro.results -i draw_date=2024-01-05 --wait
    Follow jobs:             asyncml status ID | wait ID | cancel ID | jobs | tasks
    Exit codes of client commands: 0 ok, 1 a job failed, 2 usage, 3 API unreachable,
    4 no such job, 5 timed out, 6 conflict, 7 other API error.
    """
    if log_format:
        # Read by Settings here and by every process `asyncml up` starts.
        os.environ["ASYNCML_LOG_FORMAT"] = log_format


@main.command()
@HOST
@PORT
@DATA_DIR
@INSECURE
@TASKS_OPTION
@click.option(
    "--concurrency", type=int, default=2, show_default=True, help="Processes per queue's worker."
)
def up(
    host: str | None,
    port: int | None,
    data_dir: Path | None,
    insecure: bool,
    extra_tasks: tuple[str, ...],
    concurrency: int,
) -> None:
    """Run the whole system: the API plus a worker for every queue.

    Ctrl-C (or SIGTERM) stops everything cleanly: workers finish or hand back the jobs they
    hold, and the embedded server is shut down unless another asyncml process (an
    `asyncml worker` started apart on the same data directory) still uses it.
    """
    from asyncml.launcher import Launcher
    from asyncml.queue.names import all_queues

    settings = api_settings(insecure, host=host, port=port, data_dir=data_dir)
    configure_logging(settings.log_level, settings.log_format)
    _share_tasks(extra_tasks)
    tasks = load_tasks(settings, extra_tasks)
    server = ensure_embedded(settings)
    # Known to the API before any worker is up: a job sent right away waits in its queue.
    register_quietly(settings, tasks)
    launcher = Launcher(settings, queues=all_queues(tasks), concurrency=concurrency, server=server)
    sys.exit(launcher.run())


def _share_tasks(extra: tuple[str, ...]) -> None:
    """Pass ``--tasks`` on to the processes this command starts, through ASYNCML_TASKS."""
    if extra:
        current = os.environ.get("ASYNCML_TASKS", "")
        os.environ["ASYNCML_TASKS"] = ",".join(filter(None, [current, *extra]))


@main.command()
@HOST
@PORT
@DATA_DIR
@INSECURE
@click.option(
    "--root-path",
    default=None,
    metavar="PATH",
    help="Path prefix a reverse proxy serves the API under, e.g. /asyncml "
    "[env: ASYNCML_ROOT_PATH].",
)
@click.option(
    "--forwarded-allow-ips",
    default=None,
    metavar="IPS",
    help="Proxies whose X-Forwarded-* headers are trusted: addresses, networks or * "
    "[default: 127.0.0.1, or ASYNCML_FORWARDED_ALLOW_IPS].",
)
def api(
    host: str | None,
    port: int | None,
    data_dir: Path | None,
    insecure: bool,
    root_path: str | None,
    forwarded_allow_ips: str | None,
) -> None:
    """Run the HTTP API (FastAPI under uvicorn). OpenAPI docs are served at /docs.

    One process per command: for more, start several (each binds its own port, or put
    them behind a load balancer); they share nothing but the broker and the store.
    """
    from asyncml.api import create_app
    from asyncml.api.server import serve
    from asyncml.ports import PortUnavailableError, bind

    settings = api_settings(
        insecure,
        host=host,
        port=port,
        data_dir=data_dir,
        root_path=root_path,
        forwarded_allow_ips=forwarded_allow_ips,
    )
    configure_logging(settings.log_level, settings.log_format)
    try:
        sock = bind(settings.host, settings.port)  # first: a taken port fails fast
    except PortUnavailableError as exc:
        raise click.ClickException(str(exc)) from None
    ensure_embedded(settings)
    serve(create_app(settings), settings, sock)


def _queues(value: str | None, known: tuple[str, ...]) -> list[str]:
    if value is None:
        return list(known)
    names = [q.strip() for q in value.split(",") if q.strip()]
    unknown = sorted(set(names) - set(known))
    if not names or unknown:
        raise click.BadParameter(
            f"no loaded task uses queue(s) {', '.join(unknown) or '(none)'}; the loaded "
            f"tasks' queues are {', '.join(known)} (load more with --tasks)",
            param_hint="--queues",
        )
    return names


@main.command(context_settings={"ignore_unknown_options": True})
@click.option(
    "--queues",
    "-Q",
    default=None,
    help="Comma-separated queues this worker serves [default: every queue of the loaded "
    "tasks, and webhooks].",
)
@TASKS_OPTION
@click.option(
    "--concurrency",
    "-c",
    type=click.IntRange(min=1),
    default=2,
    show_default=True,
    help="Jobs run at once: worker processes.",
)
@click.option(
    "--name",
    default=None,
    help="Node name [default: <queues>-<pid>@<host>]; solo: each process adds .N to it.",
)
@click.option(
    "--pool",
    type=click.Choice(["auto", "prefork", "solo"]),
    default=None,
    help="solo: one single-process Celery worker per unit of concurrency, each running its "
    "job inline (less CPU per job), supervised by this command, which requeues the job of "
    "a process that dies; Redis brokers only. prefork: Celery's pool of child processes. "
    "auto: solo on a Redis broker, else prefork. [default: ASYNCML_WORKER_POOL, else auto]",
)
@click.option("--in-hand-file", type=click.Path(path_type=Path), hidden=True)
@DATA_DIR
@click.argument("celery_options", nargs=-1, type=click.UNPROCESSED)
def worker(
    queues: str | None,
    extra_tasks: tuple[str, ...],
    concurrency: int,
    name: str | None,
    pool: str | None,
    in_hand_file: Path | None,
    data_dir: Path | None,
    celery_options: tuple[str, ...],
) -> None:
    """Run a Celery worker for the given queues.

    Options after ``--`` go to Celery's own worker as they are, e.g.
    ``asyncml worker --queues audio -- --max-memory-per-child=2000000``.

    It serves the tasks of its queues among those it loads: the installed packages'
    asyncml.tasks entry points, ASYNCML_TASKS and --tasks. On start it writes their
    manifests to the task registry, so the API accepts their jobs within seconds.

    Start as many as you like, on as many hosts as you like, with the same
    ASYNCML_BROKER_URL and ASYNCML_STORE_URL.
    """
    from asyncml.queue import patches
    from asyncml.queue.names import all_queues
    from asyncml.worker import create_celery, processes, solo
    from asyncml.worker.app import check_limits

    settings = load_settings(data_dir=data_dir)
    _share_tasks(extra_tasks)
    tasks = load_tasks(settings, extra_tasks)
    try:
        check_limits(settings, tasks)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    served_queues = _queues(queues, all_queues(tasks))
    served = [t for t in tasks if t.queue in served_queues]
    if pool is not None:
        settings = settings.model_copy(update={"worker_pool": pool})
    if settings.effective_worker_pool == "solo" and not settings.broker_is_redis:
        raise click.UsageError(
            "the solo pool needs a Redis broker (its supervisor requeues a dead process's "
            "job through Redis); use --pool prefork with RabbitMQ"
        )
    patches.install()
    configure_logging(settings.log_level, settings.log_format)
    ensure_embedded(settings)
    if in_hand_file is not None:  # one process of a solo worker
        app = create_celery(settings, served)
        solo.install(app, in_hand_file)
        pool, concurrency = "solo", 1
    elif settings.effective_worker_pool == "solo":
        register_quietly(settings, served)
        _announce_worker(served_queues, served, concurrency, "solo")
        sys.exit(processes.run(settings, served_queues, concurrency, name, celery_options))
    else:
        register_quietly(settings, served)
        app = create_celery(settings, served)
        pool = "prefork"
        _announce_worker(served_queues, served, concurrency, pool)
    node = name or f"{'+'.join(served_queues)}-{os.getpid()}@%h"
    app.worker_main(
        [
            "worker",
            f"--queues={','.join(served_queues)}",
            f"--concurrency={concurrency}",
            f"--pool={pool}",
            f"--hostname={node}",
            f"--loglevel={settings.log_level}",
            "--without-gossip",
            "--without-mingle",
            *celery_options,
        ]
    )


def _announce_worker(
    queues: list[str], tasks: list[TaskDefinition], concurrency: int, pool: str
) -> None:
    """The worker's one start line (Celery's banner and per-process lines are off below
    DEBUG)."""
    logging.getLogger(__name__).info(
        "worker for %s: %s; %d %s process%s",
        ", ".join(queues),
        ", ".join(t.key for t in tasks) or "webhook deliveries",
        concurrency,
        pool,
        "" if concurrency == 1 else "es",
    )


@click.command("register")
@TASKS_OPTION
@DATA_DIR
def register_tasks(extra_tasks: tuple[str, ...], data_dir: Path | None) -> None:
    """Write the loaded tasks' manifests to the registry without starting a worker.

    For a deployment that scales workers to zero (KEDA): the API accepts a task's jobs once
    its manifest is in the registry, and they wait in the queue until a worker starts.
    """
    settings = load_settings(data_dir=data_dir)
    tasks = load_tasks(settings, extra_tasks)
    ensure_embedded(settings)
    with store_registry(settings) as registry:
        registry.register([t.manifest() for t in tasks])
    for t in tasks:
        click.echo(f"registered {t.key} (queue {t.queue})")


@click.command("forget")
@click.argument("task")
@DATA_DIR
def forget_task(task: str, data_dir: Path | None) -> None:
    """Remove TASK (NAME, or NAME@VERSION for one version) from the registry.

    The API stops accepting its jobs within a second. A worker still serving it writes it
    back on its next heartbeat: stop those workers first.
    """
    settings = load_settings(data_dir=data_dir)
    ensure_embedded(settings)
    name, _, version = task.partition("@")
    with store_registry(settings) as registry:
        removed = registry.forget(name, version or None)
    if not removed:
        raise click.ClickException(f"no task {task!r} in the registry")
    click.echo(f"forgot {', '.join(removed)}")


@main.command()
@DATA_DIR
def doctor(data_dir: Path | None) -> None:
    """Show the effective settings and where each came from (environment, .env, legacy
    variables, default), then check that the job store, the broker and the workers answer.

    Starts nothing. Exit code 0 when every check passes, 1 otherwise (or when a setting is
    invalid: the message names it).
    """
    from asyncml.doctor import run_checks, settings_report

    settings = load_settings(data_dir=data_dir)
    entries = settings_report(settings, frozenset({"data_dir"} if data_dir else ()))
    width = max(len(e.variable) for e in entries)
    for e in entries:
        click.echo(f"{e.variable:<{width}}  {e.value}  [{e.source}]")
    click.echo("")
    checks = run_checks(settings)
    for check in checks:
        click.echo(f"{'ok' if check.ok else 'FAIL':<4}  {check.name}: {check.detail}")
    if not all(c.ok for c in checks):
        sys.exit(1)


main.add_command(flower)
register_client_commands(main)
_tasks_group = main.commands["tasks"]
assert isinstance(_tasks_group, click.Group)
_tasks_group.add_command(register_tasks)
_tasks_group.add_command(forget_task)
