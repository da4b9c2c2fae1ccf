"""What ``run`` and ``submit`` share beyond the API options: scheduling a job (priority,
deadline, its own time limit) and local files given where a URL is expected."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from asyncml.console.common import USAGE, CommandError

F = TypeVar("F", bound=Callable[..., Any])


def schedule_options(func: F) -> F:
    """``--priority``, ``--deadline``, ``--start-within`` and ``--time-limit``, passed on to
    the command as one ``schedule`` dict (the client's keyword arguments)."""

    @click.option(
        "--priority",
        type=click.IntRange(0, 9),
        default=None,
        help="0 (default, lowest) to 9 (highest): a higher one starts first.",
    )
    @click.option(
        "--deadline",
        type=click.DateTime(["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%d %H:%M:%S%z"]),
        default=None,
        metavar="TIME",
        help="RFC 3339 time with its offset (2030-01-01T12:00:00+00:00): not started by "
        "then, the job ends expired and never runs.",
    )
    @click.option(
        "--start-within",
        type=click.FloatRange(min=0, min_open=True),
        default=None,
        metavar="SECONDS",
        help="Like --deadline, counted from now.",
    )
    @click.option(
        "--time-limit",
        type=click.FloatRange(min=1),
        default=None,
        metavar="SECONDS",
        help="The job's own time limit, at most its task's (--timeout is how long this "
        "command waits).",
    )
    @functools.wraps(func)
    def wrapper(
        priority: int | None,
        deadline: dt.datetime | None,
        start_within: float | None,
        time_limit: float | None,
        **kwargs: Any,
    ) -> Any:
        schedule = {
            "priority": priority,
            "deadline": deadline,
            "start_within_s": start_within,
            "timeout_s": time_limit,
        }
        return func(schedule=schedule, **kwargs)

    return wrapper  # type: ignore[return-value]


def local_file(value: str) -> str | Path:
    """An argument naming a local file becomes a ``Path`` (the client uploads it); URLs,
    data: URIs and anything else stay as given. One written as a path (``./a.wav``,
    ``/data/a.wav``, ``~/a.wav``) that names no file is a usage error."""
    if "://" in value or value[:5].lower() == "data:":
        return value
    path = Path(value).expanduser()
    if path.is_file():
        return path
    if value.startswith(("./", "../", "/", "~")):
        raise CommandError(f"{value}: no such file", USAGE)
    return value
