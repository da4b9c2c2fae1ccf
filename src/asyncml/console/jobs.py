"""One job at a time: submit, status, wait, cancel; and the lists: jobs, tasks."""

from __future__ import annotations

import dataclasses
import json
from typing import Any, NoReturn

import click

from asyncml.client import Client, Job, JobInfo, JobStatus
from asyncml.client import errors as sdk
from asyncml.console import render
from asyncml.console.common import (
    API_ERROR,
    CONFLICT,
    JOB_FAILED,
    JSON_OPTION,
    NOT_FOUND,
    OK,
    TIMED_OUT,
    TIMEOUT_OPTION,
    UNREACHABLE,
    USAGE,
    api_command,
    console,
    exit_codes_help,
)
from asyncml.console.inputs import INPUT_HELP, parse_inputs
from asyncml.console.schedule import local_file, schedule_options


def _show(info: JobInfo, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(info.raw, ensure_ascii=False))
    else:
        console().print(render.job_details(info))


def _follow(job: Job, timeout: float) -> JobInfo:
    """Wait for the job, showing its status on stderr while it changes."""
    err = console(stderr=True)
    if not err.is_terminal:
        return job.wait(timeout)
    with err.status(f"job {job.id}: {job.info.status.value}") as spinner:
        for info in job.events(timeout=timeout):
            spinner.update(f"job {job.id}: {info.status.value}")
    return job.info


def _wait_and_show(job: Job, timeout: float, as_json: bool) -> NoReturn:
    """Show the finished job and exit 0 if it succeeded, 1 if not (5 if still running)."""
    try:
        info = _follow(job, timeout)
    except sdk.TimeoutError as exc:
        if exc.job is not None:
            _show(exc.job, as_json)
        raise
    _show(info, as_json)
    click.get_current_context().exit(OK if info.status is JobStatus.SUCCEEDED else JOB_FAILED)


@click.command(
    epilog=exit_codes_help(
        OK,
        JOB_FAILED,
        USAGE,
        UNREACHABLE,
        TIMED_OUT,
        CONFLICT,
        API_ERROR,
        ok="the job was queued (with --wait: it succeeded)",
    )
)
@click.argument("task")
@click.option("--input", "-i", "inputs", multiple=True, metavar="KEY=VALUE", help=INPUT_HELP)
@click.option("--wait", "-w", "wait_", is_flag=True, help="Wait for the job and show it.")
@TIMEOUT_OPTION
@click.option("--webhook", metavar="URL", help="POST signed events about the job to URL.")
@click.option(
    "--webhook-event",
    "webhook_events",
    multiple=True,
    metavar="EVENT",
    help="Webhook events to send: started, completed (repeatable) [default: completed].",
)
@click.option(
    "--idempotency-key",
    metavar="KEY",
    help="Same key and input give the same job back instead of a new one.",
)
@schedule_options
@JSON_OPTION
@api_command
def submit(
    client: Client,
    task: str,
    inputs: tuple[str, ...],
    wait_: bool,
    timeout: float,
    webhook: str | None,
    webhook_events: tuple[str, ...],
    idempotency_key: str | None,
    schedule: dict[str, Any],
    as_json: bool,
) -> None:
    """Queue a TASK job and print its id (with --wait: the finished job). A value naming
    a local file (-i url=./a.wav) is uploaded first and its asyncml://files/ URL sent.

    \b
    Examples:
      asyncml submit audio.length -i url=https://example.com/a.wav
      asyncml submit euro.results -i draw_date=2024-01-05 --wait
      asyncml submit audio.length -i @input.json --json
      ID=$(asyncml submit audio.length -i url=https://example.com/a.wav)
    """
    given = parse_inputs(inputs)
    job = client.submit(
        task,
        {key: local_file(v) if isinstance(v, str) else v for key, v in given.items()},
        webhook=webhook,
        webhook_events=list(webhook_events) or None,
        idempotency_key=idempotency_key,
        **schedule,
    )
    if not wait_:
        if as_json:
            _show(job.info, as_json=True)
        else:
            click.echo(job.id)
            err = console(stderr=True)
            if err.is_terminal:
                err.print(f"[dim]queued; follow it with: asyncml wait {job.id}[/dim]")
        return
    _wait_and_show(job, timeout, as_json)


@click.command(
    epilog=exit_codes_help(
        OK, USAGE, UNREACHABLE, NOT_FOUND, API_ERROR, ok="the job was shown, whatever its state"
    )
)
@click.argument("job_id", metavar="ID")
@JSON_OPTION
@api_command
def status(client: Client, job_id: str, as_json: bool) -> None:
    """Show job ID now: status, input, result or error, timings.

    Exits 0 whatever the job's state (use `asyncml wait` to branch on the outcome).

    \b
    Examples:
      asyncml status 6141e6b6-0e4c-4a1e-9d5b-3f0f5b8f6a10
      asyncml status "$ID" --json | jq .status
    """
    _show(client.get_job(job_id), as_json)


@click.command(
    epilog=exit_codes_help(OK, JOB_FAILED, USAGE, UNREACHABLE, NOT_FOUND, TIMED_OUT, API_ERROR)
)
@click.argument("job_id", metavar="ID")
@TIMEOUT_OPTION
@JSON_OPTION
@api_command
def wait(client: Client, job_id: str, timeout: float, as_json: bool) -> None:
    """Wait for job ID to finish and show it; the exit code says how it ended.

    \b
    Examples:
      asyncml wait "$ID" && echo done
      asyncml wait "$ID" --timeout 30 --json
    """
    _wait_and_show(client.job(job_id), timeout, as_json)


@click.command(
    epilog=exit_codes_help(
        OK, USAGE, UNREACHABLE, NOT_FOUND, CONFLICT, API_ERROR, ok="the job is canceled"
    )
)
@click.argument("job_id", metavar="ID")
@JSON_OPTION
@api_command
def cancel(client: Client, job_id: str, as_json: bool) -> None:
    """Cancel job ID: a queued job never runs, a running one is stopped.

    A job that already finished cannot be canceled (exit code 6).

    \b
    Example:
      asyncml cancel "$ID"
    """
    info = client.cancel(job_id)
    if as_json:
        _show(info, as_json=True)
    else:
        console().print(f"job {info.id}:", render.status_text(info.status))


@click.command(epilog=exit_codes_help(OK, USAGE, UNREACHABLE, API_ERROR, ok="the jobs were listed"))
@click.option(
    "--status",
    "status_",
    type=click.Choice([s.value for s in JobStatus]),
    help="Only jobs in this state.",
)
@click.option("--task", help="Only jobs of this task.")
@click.option(
    "--limit", type=click.IntRange(min=1), default=20, show_default=True, help="At most N jobs."
)
@JSON_OPTION
@api_command
def jobs(client: Client, status_: str | None, task: str | None, limit: int, as_json: bool) -> None:
    """List your jobs, newest first.

    \b
    Examples:
      asyncml jobs
      asyncml jobs --status failed --task audio.length --limit 100
      asyncml jobs --json | jq -r .id
    """
    found = list(client.list_jobs(status=status_, task=task, limit=limit))
    if as_json:
        for info in found:
            click.echo(json.dumps(info.raw, ensure_ascii=False))
    elif found:
        console().print(render.jobs_table(found))
    else:
        console(stderr=True).print("no jobs")


# ``asyncml tasks`` lists over HTTP; its subcommands (``register``, ``forget``) are operator
# commands that talk to the job store, added by ``asyncml.cli``.
@click.group(
    invoke_without_command=True,
    epilog=exit_codes_help(OK, USAGE, UNREACHABLE, API_ERROR, ok="the tasks were listed"),
)
@JSON_OPTION
@api_command
def tasks(client: Client, as_json: bool) -> None:
    """List what the API can run: each task's version, queue, workers online (and failed
    setups), queued jobs and input fields. Tasks come from the registry that workers write.

    \b
    Examples:
      asyncml tasks
      asyncml tasks --json | jq '.[].name'
      asyncml tasks register --tasks mypkg.tasks     (operators: see --help of each)
      asyncml tasks forget text.language@1
    """
    if click.get_current_context().invoked_subcommand is not None:
        return
    found = client.tasks()
    if as_json:
        click.echo(json.dumps([dataclasses.asdict(t) for t in found], ensure_ascii=False))
    else:
        console().print(render.tasks_table(found))


__all__ = ["cancel", "jobs", "status", "submit", "tasks", "wait"]
