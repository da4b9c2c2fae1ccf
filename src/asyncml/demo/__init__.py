"""``asyncml demo``: the original proof of concept's client scenario, end to end, offline.

It starts a throwaway embedded asyncml (or uses one at ``--url``), serves a local corpus
of speech files named like the Open Speech Repository's and made-up EuroMillions results
pages, sends every job through the SDK in parallel, and prints what came back, explaining
the failures that are meant to happen.

Must not import server internals: it drives asyncml through its command line and SDK.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.status import Status
from rich.table import Table
from rich.text import Text

from asyncml.client import Client
from asyncml.demo import corpus as speech
from asyncml.demo import scenario
from asyncml.demo.euro import last_days, write_pages
from asyncml.demo.files import DemoFileServer
from asyncml.demo.system import EmbeddedSystem, SystemStartError


@dataclass(frozen=True)
class DemoOptions:
    data_dir: Path
    url: str | None = None
    api_key: str | None = None
    synthetic: bool = False
    concurrency: int = 8
    timeout: float = 120.0
    serve_port: int = 0
    days: int = 15


@contextlib.contextmanager
def _step(err: Console, message: str) -> Iterator[Status | None]:
    """A spinner on a terminal; elsewhere (a pipe, a log) the message as one line."""
    if not err.is_terminal:
        err.print(message)
        yield None
        return
    with err.status(message) as status:
        yield status


def _corpus(options: DemoOptions, err: Console) -> speech.Corpus:
    cache = options.data_dir / "demo" / "corpus"
    made = 0
    status: Status | None = None

    def step(file: speech.SpeechFile) -> None:
        nonlocal made
        made += 1
        if status is not None:
            status.update(f"making the speech corpus (once; it is cached): {file.name}")
        elif made == 1:
            err.print("making the speech corpus (once; it is cached)…")

    if not err.is_terminal:
        return speech.prepare(cache, synthetic=options.synthetic, on_file=step)
    with err.status("looking for the speech corpus…") as live:
        status = live
        return speech.prepare(cache, synthetic=options.synthetic, on_file=step)


def run_demo(options: DemoOptions, out: Console, err: Console) -> int:
    """Run the scenario; 0 when every outcome was the expected one, 1 otherwise."""
    corpus = _corpus(options, err)
    present = sum(1 for f in corpus.files if f.present)
    today = dt.datetime.now(dt.UTC).date()  # the workers judge draw dates in UTC
    days = last_days(today, options.days)
    with contextlib.ExitStack() as stack:
        euro_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="asyncml-euro-")))
        write_pages(euro_dir, days)
        files = stack.enter_context(
            DemoFileServer(corpus.directory, euro_dir, port=options.serve_port)
        )
        if options.url is None:
            env = {
                "ASYNCML_EGRESS_ALLOW": "127.0.0.1",
                "ASYNCML_EURO_BASE_URL": f"{files.base_url}/euro/",
            }
            with _step(err, "starting a temporary embedded asyncml (API and workers)…"):
                try:
                    system = stack.enter_context(EmbeddedSystem(env))
                except SystemStartError as exc:
                    err.print(f"[red]could not start asyncml:[/red] {exc}")
                    return 3
            url, where = system.url, "embedded, temporary: stopped when the demo ends"
        else:
            url, where = options.url, "given with --url"
        client = stack.enter_context(Client(url, options.api_key))
        tasks = {t.name: t for t in client.tasks()}
        cases, notes = scenario.plan(corpus, f"{files.base_url}/audio", days, tasks)

        header = Table.grid(padding=(0, 2))
        header.add_column(style="bold", no_wrap=True)
        header.add_column()
        header.add_row("API", f"{url} ({where})")
        state = "cached" if corpus.cached else "made now"
        header.add_row(
            "audio",
            f"{present} of {len(corpus.files)} files OSR_us_000_00NN_8k.wav, "
            f"NN = {corpus.files[0].number}..{corpus.files[-1].number}, {corpus.note}; "
            f"{state} in {corpus.directory}",
        )
        header.add_row(
            "euro",
            f"results pages for the last {len(days)} days ({days[0]} to {days[-1]}): "
            "demo data, made-up numbers",
        )
        header.add_row("served", f"{files.base_url}/audio/… and {files.base_url}/euro/…")
        if options.url is not None:
            header.add_row(
                Text("note", style="yellow"),
                "the API must be allowed to fetch from 127.0.0.1 (ASYNCML_EGRESS_ALLOW="
                "127.0.0.1), and reads results pages from its own ASYNCML_EURO_BASE_URL "
                f"(the demo's are at {files.base_url}/euro/; fix the port with --serve-port)",
            )
        for note in notes:
            header.add_row(Text("skipped", style="yellow"), note)
        header.add_row(
            "jobs",
            f"{len(cases)}, {options.concurrency} at a time, each waited for up to "
            f"{options.timeout:g} s",
        )
        out.print("[bold]asyncml demo[/bold]: the original client's scenario, on this machine")
        out.print(header)
        rows = scenario.run(
            client,
            cases,
            corpus=corpus,
            own_system=options.url is None,
            concurrency=options.concurrency,
            timeout=options.timeout,
            console=out,
            progress_console=err,
        )
        if options.url is None:
            err.print("[dim]stopping the demo's asyncml…[/dim]")
    return 0 if all(r.expected for r in rows) else 1


__all__ = ["DemoOptions", "run_demo"]
