"""``asyncml demo``: the original client's scenario, end to end, on this machine."""

from __future__ import annotations

from pathlib import Path

import click
from pydantic import ValidationError

from asyncml.console.common import USAGE, CommandError, api_errors, console


def _data_dir(given: Path | None) -> Path:
    if given is not None:
        return given
    from asyncml.settings import Settings

    try:
        return Settings().data_dir
    except ValidationError as exc:
        raise CommandError(
            f"invalid asyncml configuration ({exc.error_count()} problem(s)); "
            "fix it or pass --data-dir",
            USAGE,
        ) from None


@click.command()
@click.option(
    "--url",
    metavar="URL",
    default=None,
    help="Use the asyncml API at URL instead of starting one.",
)
@click.option(
    "--api-key",
    envvar="ASYNCML_API_KEY",
    metavar="KEY",
    help="API key for --url [env: ASYNCML_API_KEY].",
)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where the generated corpus is cached (under demo/) "
    "[default: ~/.local/share/asyncml, or ASYNCML_DATA_DIR].",
)
@click.option(
    "--synthetic",
    is_flag=True,
    help="Use synthetic voiced tones even when espeak-ng is installed.",
)
@click.option(
    "--concurrency",
    "-c",
    type=click.IntRange(1, 64),
    default=8,
    show_default=True,
    help="Jobs in flight at once.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=1),
    default=120,
    show_default=True,
    help="Seconds to wait for each job.",
)
@click.option(
    "--serve-port",
    type=click.IntRange(0, 65535),
    default=0,
    help="Port of the demo's file server [default: any free one]; useful with --url.",
)
def demo(
    url: str | None,
    api_key: str | None,
    data_dir: Path | None,
    synthetic: bool,
    concurrency: int,
    timeout: float,
    serve_port: int,
) -> None:
    """Run the original client's scenario end to end, offline.

    Starts a temporary embedded asyncml (API and workers, on a free port, with its own data
    directory, removed afterwards), serves a local corpus of speech files named like the
    Open Speech Repository's (OSR_us_000_0010_8k.wav … 0064, some missing as on the real
    site) and made-up EuroMillions results pages, then sends in parallel: audio.length for
    every file, audio.gender too when the API offers it, and euro.results for each of the
    last 15 days. It shows progress and prints every outcome, explaining the failures that
    are meant to happen (a missing file is a 404, most days have no draw).

    Speech is made with espeak-ng when it is installed (apt-get install espeak-ng),
    otherwise synthetic tones stand in; either way the corpus is cached under the data
    directory.

    Exit code 0 when every outcome is the expected one, 1 otherwise, 3 when asyncml could
    not be started or reached.

    \b
    Examples:
      asyncml demo
      asyncml demo --synthetic --concurrency 16
      asyncml demo --url http://127.0.0.1:5000 --serve-port 8766
    """
    from asyncml.demo import DemoOptions, run_demo

    options = DemoOptions(
        data_dir=_data_dir(data_dir),
        url=url,
        api_key=api_key,
        synthetic=synthetic,
        concurrency=concurrency,
        timeout=timeout,
        serve_port=serve_port,
    )
    with api_errors(url or "the demo's asyncml"):
        code = run_demo(options, console(), console(stderr=True))
    click.get_current_context().exit(code)
