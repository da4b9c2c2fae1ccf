"""Job inputs from the command line: ``k=v`` (text), ``k:=json`` (raw JSON), ``@file.json``."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import click

INPUT_HELP = (
    "A field of the job's input: KEY=TEXT, KEY:=JSON (numbers, lists, …) or @FILE.json "
    "(a JSON object; @- reads stdin). Repeatable; later ones win."
)


def _load(source: str) -> dict[str, Any]:
    try:
        text = sys.stdin.read() if source == "-" else Path(source).read_text()
    except OSError as exc:
        raise click.BadParameter(f"cannot read {source}: {exc.strerror}") from None
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise click.BadParameter(f"{source} is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise click.BadParameter(f"{source} must hold a JSON object, not {type(data).__name__}")
    return data


def parse_inputs(items: Iterable[str]) -> dict[str, Any]:
    """Merge ``--input`` values into one input object."""
    merged: dict[str, Any] = {}
    for item in items:
        if item.startswith("@"):
            merged.update(_load(item[1:]))
            continue
        key, raw, value = item.partition(":=")
        if raw and "=" not in key:
            try:
                merged[key] = json.loads(value)
            except ValueError as exc:
                raise click.BadParameter(
                    f"{item!r}: the value after := is not JSON ({exc})"
                ) from None
            continue
        key, eq, value = item.partition("=")
        if not eq or not key:
            raise click.BadParameter(
                f"{item!r}: use KEY=TEXT, KEY:=JSON or @FILE.json (e.g. url=https://…/a.wav)"
            )
        merged[key] = value
    return merged


def read_args(args: Iterable[str]) -> list[str]:
    """Positional values; ``-`` stands for one value per line of stdin (blank and # skipped)."""
    values: list[str] = []
    for arg in args:
        if arg != "-":
            values.append(arg)
            continue
        for line in sys.stdin.read().splitlines():
            if line.strip() and not line.lstrip().startswith("#"):
                values.append(line.strip())
    return values
