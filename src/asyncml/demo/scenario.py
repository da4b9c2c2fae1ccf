"""The original client's scenario: a batch of audio URLs and EuroMillions dates sent in
parallel, every outcome collected, a table printed with the expected failures explained."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Any

from rich.console import Console, Group
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from asyncml.client import Client, JobFailedError, Outcome, TaskInfo
from asyncml.client.errors import ClientError
from asyncml.console.render import summarize_error, summarize_result
from asyncml.demo.corpus import Corpus
from asyncml.demo.euro import made_up_draw
from asyncml.models.euro import is_draw_day

LENGTH, GENDER, EURO = "audio.length", "audio.gender", "euro.results"
LENGTH_TOLERANCE_S = 1e-3


@dataclass(frozen=True)
class Case:
    task: str
    label: str  # what the table shows for the input
    input: dict[str, Any]
    expect: str | None  # None: the job should succeed; else the error code it should end with
    why: str = ""  # what makes the expected failure happen
    voice: str = ""  # audio: the voice the file was made with
    day: dt.date | None = None  # euro: the draw date


@dataclass(frozen=True)
class Row:
    case: Case
    outcome: Outcome
    problem: str | None  # why an outcome is not what the demo expected; None when it is

    @property
    def expected(self) -> bool:
        return self.problem is None


def _field(task: TaskInfo, fallback: str) -> str:
    required = task.required_inputs
    return required[0] if len(required) == 1 else fallback


def plan(
    corpus: Corpus, audio_url: str, days: list[dt.date], tasks: dict[str, TaskInfo]
) -> tuple[list[Case], list[str]]:
    """Every job the demo sends, and notes on what it leaves out."""
    cases: list[Case] = []
    notes: list[str] = []
    for task in (LENGTH, GENDER):
        if task not in tasks:
            notes.append(f"{task} skipped: the API does not offer it (GET /v1/tasks)")
            continue
        field = _field(tasks[task], "url")
        for file in corpus.files:
            why = "" if file.present else "no such file, as on the real site (HTTP 404)"
            cases.append(
                Case(
                    task,
                    file.name,
                    {field: f"{audio_url}/{file.name}"},
                    None if file.present else "download_failed",
                    why,
                    voice=file.voice,
                )
            )
    if EURO not in tasks:
        notes.append(f"{EURO} skipped: the API does not offer it (GET /v1/tasks)")
    else:
        field = _field(tasks[EURO], "draw_date")
        for day in days:
            draw = is_draw_day(day)
            why = "" if draw else f"no draw on {day:%A}s, only Tuesdays and Fridays"
            expect = None if draw else "no_draw_on_date"
            cases.append(
                Case(EURO, day.isoformat(), {field: day.isoformat()}, expect, why, day=day)
            )
    return cases, notes


def _run_case(client: Client, index: int, case: Case, timeout: float) -> Outcome:
    """Submit, then long-poll until done: what the original client did with retries."""
    job = None
    try:
        job = client.submit(case.task, case.input)
        info = job.wait(timeout)
    except ClientError as exc:
        return Outcome(index, case.input, job.info if job else None, exc)
    return Outcome(index, case.input, info, None if info.ok else JobFailedError(info))


def _problem(case: Case, outcome: Outcome, corpus: Corpus, own_system: bool) -> str | None:
    code = getattr(outcome.error, "code", None) if outcome.error else None
    if case.expect is not None:
        return None if code == case.expect else f"expected {case.expect}"
    if outcome.error is not None:
        return "expected success"
    result = outcome.job.result if outcome.job else None
    if case.task == LENGTH and isinstance(result, dict):
        written = corpus.lengths.get(case.label)
        got = result.get("audio_length")
        if (
            isinstance(got, float)
            and written is not None
            and abs(got - written) > LENGTH_TOLERANCE_S
        ):
            return f"length {got:.4f} s, but the file holds {written:.4f} s"
    if case.task == EURO and own_system and case.day and isinstance(result, dict):
        draw = made_up_draw(case.day)
        if (result.get("numbers"), result.get("stars")) != (list(draw.numbers), list(draw.stars)):
            return "numbers differ from the demo page"
    return None


def execute(
    client: Client,
    cases: list[Case],
    *,
    corpus: Corpus,
    own_system: bool,
    concurrency: int,
    timeout: float,
    console: Console,
) -> list[Row]:
    """Run every case, ``concurrency`` at a time, with a progress bar per task."""
    progress = Progress(
        TextColumn("{task.description:<13}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        disable=not console.is_terminal,
    )
    bars = {}
    for case in cases:
        if case.task not in bars:
            total = sum(1 for c in cases if c.task == case.task)
            bars[case.task] = progress.add_task(case.task, total=total)
    outcomes: dict[int, Outcome] = {}
    with progress, ThreadPoolExecutor(concurrency, thread_name_prefix="demo") as pool:
        futures = [pool.submit(_run_case, client, i, c, timeout) for i, c in enumerate(cases)]
        for future in as_completed(futures):
            outcome = future.result()
            outcomes[outcome.index] = outcome
            progress.advance(bars[cases[outcome.index].task])
    return [
        Row(case, outcomes[i], _problem(case, outcomes[i], corpus, own_system))
        for i, case in enumerate(cases)
    ]


# ---- the tables -----------------------------------------------------------------------


def _status(row: Row) -> Text:
    outcome = row.outcome
    status = outcome.job.status.value if outcome.job else "refused"
    if not row.expected:
        return Text(status, style="bold red")
    return Text(status, style="green" if outcome.ok else "yellow")


def _note(row: Row) -> Text:
    error = row.outcome.error
    if row.expected and error is not None:
        code = getattr(error, "code", "")
        return Text(f"expected {code}: {row.case.why}", style="yellow")
    if not row.expected:
        detail = summarize_error(error) if error is not None else ""
        return Text(f"UNEXPECTED ({row.problem}) {detail}".rstrip(), style="bold red")
    return Text("")


def _table(title: str, columns: list[str]) -> Table:
    table = Table(title=title, title_justify="left", title_style="bold", header_style="bold")
    for name in columns:
        table.add_column(name, no_wrap=name not in ("note", "result"))
    return table


def _result(row: Row) -> str:
    if row.outcome.error is not None or row.outcome.job is None:
        return "—"
    return summarize_result(row.case.task, row.outcome.job.result)


def tables(rows: list[Row], corpus_kind: str) -> list[Table]:
    out = []
    by_task: dict[str, list[Row]] = {}
    for row in rows:
        by_task.setdefault(row.case.task, []).append(row)
    if lengths := by_task.get(LENGTH):
        table = _table(f"{LENGTH}: {len(lengths)} files", ["file", "status", "result", "note"])
        for row in lengths:
            table.add_row(row.case.label, _status(row), _result(row), _note(row))
        out.append(table)
    if genders := by_task.get(GENDER):
        title = f"{GENDER}: {len(genders)} files"
        if corpus_kind != "espeak-ng":
            title += " (synthetic tones, not speech: predictions mean little)"
        table = _table(title, ["file", "voice", "status", "result", "note"])
        for row in genders:
            note = _note(row)
            result = row.outcome.job.result if row.outcome.job else None
            gender = result.get("gender") if isinstance(result, dict) else None
            if row.outcome.ok and gender and gender != row.case.voice:
                note = Text("differs from the voice it was made with", style="dim")
            table.add_row(row.case.label, row.case.voice, _status(row), _result(row), note)
        out.append(table)
    if euro := by_task.get(EURO):
        title = f"{EURO}: the last {len(euro)} days (demo data: made-up numbers)"
        table = _table(title, ["date", "day", "status", "numbers  ★ stars", "note"])
        for row in euro:
            day = f"{row.case.day:%A}" if row.case.day else ""
            table.add_row(row.case.label, day, _status(row), _result(row), _note(row))
        out.append(table)
    return out


def summary(rows: Iterable[Row], seconds: float) -> Text:
    rows = list(rows)
    succeeded = sum(1 for r in rows if r.outcome.ok and r.expected)
    expected_failures = sum(1 for r in rows if not r.outcome.ok and r.expected)
    unexpected = sum(1 for r in rows if not r.expected)
    text = Text(f"{len(rows)} jobs in {seconds:.1f} s: {succeeded} succeeded, ")
    text.append(f"{expected_failures} failed as expected, ")
    text.append(f"{unexpected} unexpected", style="bold red" if unexpected else "green")
    answers = [
        (r.outcome.job.result.get("gender"), r.case.voice)
        for r in rows
        if r.case.task == GENDER and r.outcome.ok and r.outcome.job is not None
        if isinstance(r.outcome.job.result, dict)
    ]
    if answers:
        given = [(said, voice) for said, voice in answers if said is not None]
        agreed = sum(1 for said, voice in given if said == voice)
        text.append(
            f"\naudio.gender: {len(given)} of {len(answers)} files answered, "
            f"{agreed} matching the voice they were made with"
        )
    return text


def report(console: Console, rows: list[Row], corpus_kind: str, seconds: float) -> None:
    console.print()
    console.print(Group(*[item for t in tables(rows, corpus_kind) for item in (t, Text(""))]))
    console.print(summary(rows, seconds))


def run(
    client: Client,
    cases: list[Case],
    *,
    corpus: Corpus,
    own_system: bool,
    concurrency: int,
    timeout: float,
    console: Console,
    progress_console: Console,
) -> list[Row]:
    started = time.monotonic()
    rows = execute(
        client,
        cases,
        corpus=corpus,
        own_system=own_system,
        concurrency=concurrency,
        timeout=timeout,
        console=progress_console,
    )
    report(console, rows, corpus.kind, time.monotonic() - started)
    return rows
