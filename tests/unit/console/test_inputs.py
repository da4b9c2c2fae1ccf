"""Job inputs from the command line: KEY=TEXT, KEY:=JSON, @FILE.json, - for stdin."""

from __future__ import annotations

import io
from pathlib import Path

import click
import pytest

from asyncml.console.inputs import parse_inputs, read_args


def test_text_json_and_files_merge_in_order(tmp_path: Path) -> None:
    body = tmp_path / "input.json"
    body.write_text('{"url": "https://example.com/a.wav", "n": 1}')
    assert parse_inputs([f"@{body}", "n:=2", "tags:=[1, 2]", "note=a=b"]) == {
        "url": "https://example.com/a.wav",
        "n": 2,
        "tags": [1, 2],
        "note": "a=b",
    }
    assert parse_inputs(["draw_date=2024-01-05"]) == {"draw_date": "2024-01-05"}


@pytest.mark.parametrize("bad", ["url", "=x", "n:=not json", "@/no/such/file.json"])
def test_bad_inputs_are_usage_errors(bad: str) -> None:
    with pytest.raises(click.BadParameter):
        parse_inputs([bad])


def test_a_file_must_hold_an_object(tmp_path: Path) -> None:
    body = tmp_path / "list.json"
    body.write_text("[1, 2]")
    with pytest.raises(click.BadParameter, match="JSON object"):
        parse_inputs([f"@{body}"])


def test_dash_reads_values_from_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("a.wav\n\n# skipped\n b.wav \n"))
    assert read_args(["first.wav", "-"]) == ["first.wav", "a.wav", "b.wav"]
