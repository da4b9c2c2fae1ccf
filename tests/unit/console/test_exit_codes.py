"""Exit codes as documented (docs/quickstart.md, each command's --help)."""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner

from asyncml.cli import main
from asyncml.client import Outcome
from asyncml.client import errors as sdk
from asyncml.console.run import exit_code

REFUSED = sdk.ValidationError(422, "invalid_input", "input.url: not a URL")
UNREACHABLE = sdk.APIConnectionError("cannot reach the asyncml API")
DENIED = sdk.AuthenticationError(401, "unauthorized", "missing API key")
LATE = sdk.TimeoutError("still running")


def _outcomes(*errors: sdk.ClientError) -> list[Outcome]:
    return [Outcome(index=n, input={}, job=None, error=e) for n, e in enumerate(errors)]


def test_a_refused_input_in_run_exits_2_as_documented() -> None:
    assert exit_code(_outcomes(REFUSED)) == 2


@pytest.mark.parametrize(
    ("errors", "code"),
    [
        ((UNREACHABLE, REFUSED, DENIED, LATE), 3),
        ((REFUSED, DENIED, LATE), 2),
        ((DENIED, LATE), 7),
        ((LATE,), 5),
        ((), 0),
    ],
)
def test_run_exits_with_the_first_that_applies_in_the_documented_order(
    errors: tuple[sdk.ClientError, ...], code: int
) -> None:
    assert exit_code(_outcomes(*errors)) == code


def _codes(command: str) -> set[int]:
    help_text = CliRunner().invoke(main, [command, "--help"]).output
    listed = help_text.split("Exit codes:", 1)[1]
    return {int(n) for n in re.findall(r"^\s+(\d)  ", listed, re.MULTILINE)}


@pytest.mark.parametrize(
    ("command", "codes"),
    [
        ("status", {0, 2, 3, 4, 7}),
        ("jobs", {0, 2, 3, 7}),
        ("tasks", {0, 2, 3, 7}),
        ("cancel", {0, 2, 3, 4, 6, 7}),
        ("wait", {0, 1, 2, 3, 4, 5, 7}),
        ("run", {0, 1, 2, 3, 5, 7}),
    ],
)
def test_each_command_lists_only_the_exit_codes_that_apply_to_it(
    command: str, codes: set[int]
) -> None:
    assert _codes(command) == codes
