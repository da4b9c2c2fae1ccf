"""What every client command shares: --url/--api-key, exit codes, errors, the consoles."""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import click
from rich.console import Console

from asyncml.client import Client, errors
from asyncml.client._core import default_url

# Exit codes scripts can rely on (listed in `asyncml --help` and docs/quickstart.md).
OK = 0
JOB_FAILED = 1  # a job failed, was canceled or expired
USAGE = 2  # bad command line, or the API refused the input (422)
UNREACHABLE = 3  # the API could not be reached, or stayed unavailable (503) through retries
NOT_FOUND = 4  # no such job
TIMED_OUT = 5  # a job did not finish within --timeout (it goes on running)
CONFLICT = 6  # the job already finished (cancel), or an Idempotency-Key was reused
API_ERROR = 7  # any other error answer (authentication, internal error)

_MEANINGS = {
    OK: "success: every job succeeded",
    JOB_FAILED: "a job failed, was canceled or expired",
    USAGE: "usage error, or the API refused the input (422)",
    UNREACHABLE: "the API is unreachable, or unavailable through retries",
    NOT_FOUND: "no such job",
    TIMED_OUT: "a job did not finish within --timeout (it goes on running)",
    CONFLICT: "conflict: the job already finished, or an Idempotency-Key was reused",
    API_ERROR: "another API error (e.g. authentication)",
}


def exit_codes_help(*codes: int, ok: str | None = None) -> str:
    """A command's help epilog: the exit codes it can end with, and only those (``ok``:
    what 0 means for a command that runs no job to its end)."""
    meanings = _MEANINGS | ({OK: ok} if ok else {})
    lines = [f"  {code}  {meanings[code]}" for code in sorted(codes)]
    return "\b\nExit codes:\n" + "\n".join(lines)


class CommandError(click.ClickException):
    """A failure reported on stderr with a chosen exit code."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code  # type: ignore[misc]  # click declares it per class


def exit_code_of(exc: errors.ClientError) -> int:
    match exc:
        case errors.APIConnectionError() | errors.UnavailableError():
            return UNREACHABLE
        case errors.ValidationError():
            return USAGE
        case errors.NotFoundError():
            return NOT_FOUND
        case errors.ConflictError():
            return CONFLICT
        case errors.TimeoutError():
            return TIMED_OUT
        case errors.JobFailedError():
            return JOB_FAILED
    return API_ERROR


def describe(exc: errors.ClientError, url: str) -> str:
    if isinstance(exc, errors.APIConnectionError):
        hint = (
            " (is it running? start one with `asyncml up`, or point the client at it with "
            "--url URL or ASYNCML_URL=URL)"
        )
        return f"{exc.message}{hint}"
    if isinstance(exc, errors.UnavailableError):
        return f"the API at {url} is unavailable: {exc.message}"
    if isinstance(exc, errors.APIError):
        return f"{exc.message} (HTTP {exc.status_code} {exc.code})"
    return exc.message


@contextlib.contextmanager
def api_errors(url: str) -> Iterator[None]:
    """Turn SDK errors into a message on stderr and the documented exit code."""
    try:
        yield
    except errors.ClientError as exc:
        raise CommandError(describe(exc, url), exit_code_of(exc)) from None


F = TypeVar("F", bound=Callable[..., Any])


def api_command(func: F) -> F:
    """Give a command --url and --api-key, and call it with a connected ``Client``."""

    @click.option(
        "--url",
        default=default_url,
        show_default="$ASYNCML_URL, else http://$ASYNCML_HOST:$ASYNCML_PORT, 127.0.0.1:5000",
        metavar="URL",
        help="The asyncml API [env: ASYNCML_URL; else the address a local server started "
        "with the same ASYNCML_HOST and ASYNCML_PORT listens on].",
    )
    @click.option(
        "--api-key",
        envvar="ASYNCML_API_KEY",
        default=None,
        metavar="KEY",
        help="API key, sent as 'Authorization: Bearer KEY' [env: ASYNCML_API_KEY].",
    )
    @functools.wraps(func)
    def wrapper(url: str, api_key: str | None, **kwargs: Any) -> Any:
        with Client(url, api_key) as client, api_errors(client.base_url):
            return func(client, **kwargs)

    return wrapper  # type: ignore[return-value]


def console(stderr: bool = False) -> Console:
    """A console on stdout (results) or stderr (progress, notes), made per call so that
    whatever stream is current (a test runner's, a pipe) is the one written to."""
    out = Console(stderr=stderr, highlight=False)
    if not out.is_terminal and "COLUMNS" not in os.environ:
        out.width = 120  # piped output: wide rows rather than a fold at 80 columns
    return out


JSON_OPTION = click.option(
    "--json", "as_json", is_flag=True, help="Machine-readable output: JSON (lines)."
)
TIMEOUT_OPTION = click.option(
    "--timeout",
    type=click.FloatRange(min=0),
    default=300,
    show_default=True,
    help="Seconds to wait for a job to finish.",
)
