"""``asyncml run TASK ARG...``: one job per argument, a progress bar, a table."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from asyncml.client import Client, Outcome, TaskInfo
from asyncml.client import errors as sdk
from asyncml.console import render
from asyncml.console.common import (
    API_ERROR,
    JOB_FAILED,
    JSON_OPTION,
    OK,
    TIMED_OUT,
    TIMEOUT_OPTION,
    UNREACHABLE,
    USAGE,
    CommandError,
    api_command,
    console,
    exit_codes_help,
)
from asyncml.console.inputs import INPUT_HELP, parse_inputs, read_args
from asyncml.console.schedule import local_file, schedule_options


def input_field(task: TaskInfo, field: str | None) -> str:
    """The input field each positional argument fills."""
    if field is not None:
        return field
    required = task.required_inputs
    if len(required) == 1:
        return required[0]
    names = ", ".join(required) or "none"
    raise CommandError(
        f"{task.name} has {len(required)} required input fields ({names}); "
        "say which one the arguments fill with --field, and give the others with --input",
        USAGE,
    )


def find_task(client: Client, name: str) -> TaskInfo:
    tasks = client.tasks()
    for task in tasks:
        if task.name == name:
            return task
    known = ", ".join(t.name for t in tasks) or "none"
    raise CommandError(
        f"the API at {client.base_url} has no task {name!r}; it runs: {known}", USAGE
    )


def exit_code(outcomes: Iterable[Outcome]) -> int:
    """The first that applies: 3 if the API went away, 2 if it refused an input (422), 7 if
    it answered another error, 5 if a job outlived --timeout, 1 if a job failed."""
    errors = [o.error for o in outcomes if o.error is not None]
    if any(isinstance(e, sdk.APIConnectionError | sdk.UnavailableError) for e in errors):
        return UNREACHABLE
    if any(isinstance(e, sdk.ValidationError) for e in errors):
        return USAGE
    if any(isinstance(e, sdk.APIError) for e in errors):
        return API_ERROR
    if any(isinstance(e, sdk.TimeoutError) for e in errors):
        return TIMED_OUT
    return JOB_FAILED if errors else OK


@click.command(epilog=exit_codes_help(OK, JOB_FAILED, USAGE, UNREACHABLE, TIMED_OUT, API_ERROR))
@click.argument("task")
@click.argument("args", nargs=-1, required=True, metavar="ARG...")
@click.option(
    "--field",
    metavar="NAME",
    help="Input field the arguments fill [default: the task's one required field].",
)
@click.option("--input", "-i", "inputs", multiple=True, metavar="KEY=VALUE", help=INPUT_HELP)
@click.option(
    "--concurrency",
    "-c",
    type=click.IntRange(1, 64),
    default=8,
    show_default=True,
    help="Jobs in flight at once.",
)
@TIMEOUT_OPTION
@schedule_options
@JSON_OPTION
@api_command
def run(
    client: Client,
    task: str,
    args: tuple[str, ...],
    field: str | None,
    inputs: tuple[str, ...],
    concurrency: int,
    timeout: float,
    schedule: dict[str, Any],
    as_json: bool,
) -> None:
    """Run TASK once per ARG and show every outcome.

    Each ARG fills the task's single required input field (found with GET /v1/tasks), so
    `asyncml run audio.length URL...` sends {"url": URL} per URL. An ARG naming a local
    file is uploaded first (POST /v1/files) and its asyncml://files/ URL sent instead.
    An ARG of - reads one value per line from stdin. A progress bar runs on stderr; the
    table (or, with --json, one JSON object per job as it finishes) goes to stdout.

    \b
    Examples:
      asyncml run audio.length https://example.com/a.wav https://example.com/b.mp3
      asyncml run audio.length ./a.wav ./b.flac --priority 9
      asyncml run audio.gender https://example.com/a.wav
      asyncml run euro.results 2024-01-05 2024-01-09 --json
      cat urls.txt | asyncml run audio.length - -c 16 > lengths.jsonl
    """
    spec = find_task(client, task)
    name = input_field(spec, field)
    common = parse_inputs(inputs)
    values = read_args(args)
    if not values:
        raise CommandError("no arguments to run (stdin was empty)", USAGE)
    items = [{**common, name: local_file(value)} for value in values]
    started = time.monotonic()
    outcomes: list[Outcome] = []
    err = console(stderr=True)
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("[red]{task.fields[failed]} failed"),
        TimeElapsedColumn(),
        console=err,
        disable=not err.is_terminal,
    )
    with progress:
        bar = progress.add_task(task, total=len(items), failed=0)
        outcomes_in = client.batch(
            task, items, concurrency=concurrency, timeout=timeout, **schedule
        )
        for outcome in outcomes_in:
            outcomes.append(outcome)
            failed = sum(1 for o in outcomes if not o.ok)
            progress.update(bar, advance=1, failed=failed)
            if as_json:
                click.echo(render.outcome_line(outcome))
    outcomes.sort(key=lambda o: o.index)
    if not as_json:
        console().print(render.outcomes_table(task, name, outcomes))
    succeeded = sum(1 for o in outcomes if o.ok)
    err.print(
        f"{len(outcomes)} job(s) in {time.monotonic() - started:.1f} s: "
        f"{succeeded} succeeded, {len(outcomes) - succeeded} did not"
    )
    click.get_current_context().exit(exit_code(outcomes))
