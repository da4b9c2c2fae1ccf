"""The SDK and the client commands against a real API and worker (embedded layout)."""

from __future__ import annotations

import asyncio
import builtins
import json
import uuid
from collections.abc import Iterator

import pytest
from click.testing import CliRunner, Result

from asyncml.cli import main
from asyncml.client import (
    AsyncClient,
    Client,
    ConflictError,
    JobFailedError,
    JobStatus,
    NotFoundError,
    ValidationError,
)
from tests.integration.conftest import start_stack, stop_stack
from tests.integration.fileserver import FileServer
from tests.integration.stack import Stack, free_port

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def api(files: FileServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("client-stack")
    deployment = start_stack("embedded", files, tmp)
    yield deployment
    stop_stack(deployment, tmp)


@pytest.fixture
def client(api: Stack) -> Iterator[Client]:
    with Client(api.url) as sdk:
        yield sdk


def url(files: FileServer, name: str) -> dict[str, str]:
    return {"url": f"{files.base_url}/{name}"}


# ---- the SDK --------------------------------------------------------------------------------


def test_submit_then_result(client: Client, files: FileServer, corpus: dict[str, float]) -> None:
    job = client.submit("audio.length", url(files, "short.wav"))
    assert job.info.status is JobStatus.QUEUED and job.info.task == "audio.length"
    result = job.result(timeout=30)
    assert result["audio_length"] == pytest.approx(corpus["short.wav"], abs=1e-9)
    assert job.status() is JobStatus.SUCCEEDED
    assert job.info.finished_at is not None and job.info.attempts == 1


def test_a_failed_job_raises_its_error_code(client: Client, files: FileServer) -> None:
    job = client.submit("audio.length", url(files, "OSR_missing.wav"))
    info = job.wait(timeout=30)
    assert info.status is JobStatus.FAILED and info.error is not None
    with pytest.raises(JobFailedError) as caught:
        job.result()
    assert caught.value.code == "download_failed" == info.error.code
    assert "404" in caught.value.detail


def test_api_errors_are_typed(client: Client, files: FileServer) -> None:
    with pytest.raises(ValidationError) as invalid:
        client.submit("audio.length", {"url": "not a url"})
    assert invalid.value.status_code == 422 and "input.url" in invalid.value.message
    with pytest.raises(ValidationError, match="unknown task"):
        client.submit("audio.nothing", url(files, "short.wav"))
    with pytest.raises(NotFoundError):
        client.job(str(uuid.uuid4()))
    key = f"key-{uuid.uuid4()}"
    first = client.submit("audio.length", url(files, "short.wav"), idempotency_key=key)
    again = client.submit("audio.length", url(files, "short.wav"), idempotency_key=key)
    assert again.id == first.id
    with pytest.raises(ConflictError) as conflict:
        client.submit("audio.length", url(files, "stereo.wav"), idempotency_key=key)
    assert conflict.value.status_code == 409


def test_wait_times_out_then_cancel(client: Client, files: FileServer) -> None:
    job = client.submit("audio.length", url(files, "slow/30/short.wav"))
    with pytest.raises(builtins.TimeoutError) as caught:
        job.wait(timeout=0.5)
    assert caught.value.job.status in (JobStatus.QUEUED, JobStatus.STARTED)  # type: ignore[attr-defined]
    assert job.cancel().status is JobStatus.CANCELED
    # Canceling again (e.g. a retry whose first attempt went through) is not an error.
    assert client.cancel(job.id).status is JobStatus.CANCELED
    with pytest.raises(JobFailedError) as failed:
        job.result(timeout=5)
    assert failed.value.code == "canceled"


def test_events_yield_each_status_change(client: Client, files: FileServer) -> None:
    job = client.submit("audio.length", url(files, "slow/2/short.wav"))
    statuses = [info.status for info in job.events(timeout=30)]
    assert statuses[-1] is JobStatus.SUCCEEDED
    assert JobStatus.STARTED in statuses
    assert statuses[0] in (JobStatus.QUEUED, JobStatus.STARTED)
    assert len(statuses) == len(set(statuses))  # one entry per change
    assert job.info.result is not None


def test_batches(client: Client, files: FileServer, corpus: dict[str, float]) -> None:
    inputs = [url(files, "short.wav"), url(files, "missing.wav"), url(files, "stereo.wav")]
    results = list(client.map("audio.length", inputs, concurrency=2, return_exceptions=True))
    assert results[0]["audio_length"] == pytest.approx(corpus["short.wav"])
    assert isinstance(results[1], JobFailedError) and results[1].code == "download_failed"
    assert results[2]["audio_length"] == pytest.approx(corpus["stereo.wav"])
    with pytest.raises(JobFailedError):
        list(client.map("audio.length", inputs))
    outcomes = list(client.batch("audio.length", [*inputs, {"url": "nope"}], concurrency=3))
    assert sorted(o.index for o in outcomes) == [0, 1, 2, 3]
    by_index = {o.index: o for o in outcomes}
    assert by_index[0].ok and not by_index[1].ok
    assert isinstance(by_index[3].error, ValidationError) and by_index[3].job is None
    jobs = client.submit_many("audio.length", inputs, concurrency=2)
    assert len({j.id for j in jobs}) == 3


def test_long_polls_wake_for_every_finished_job(client: Client, files: FileServer) -> None:
    # Many waits at once, each shorter than one long-poll (30 s): a wait that slept through
    # its job's end would time out here (tests/unit/api/test_wait.py pins the cause).
    inputs = [url(files, "short.wav")] * 32
    outcomes = list(client.batch("audio.length", inputs, concurrency=8, timeout=20))
    assert [o.error for o in outcomes if not o.ok] == []


def test_tasks_and_listing(client: Client, files: FileServer) -> None:
    tasks = {t.name: t for t in client.tasks()}
    assert tasks["audio.length"].required_inputs == ["url"]
    assert tasks["euro.results"].required_inputs == ["draw_date"]
    mine = client.submit("audio.length", url(files, "missing.wav"))
    mine.wait(timeout=30)
    newest = list(client.list_jobs(limit=3, page_size=2))
    assert len(newest) == 3 and newest[0].id == mine.id
    failed = list(client.list_jobs(status="failed", task="audio.length", limit=50))
    assert mine.id in {j.id for j in failed}
    assert all(j.status is JobStatus.FAILED for j in failed)


def test_async_client(api: Stack, files: FileServer, corpus: dict[str, float]) -> None:
    async def scenario() -> None:
        async with AsyncClient(api.url) as sdk:
            job = await sdk.submit("audio.length", url(files, "slow/1/short.wav"))
            statuses = [info.status async for info in job.events(timeout=30)]
            assert statuses[-1] is JobStatus.SUCCEEDED
            assert (await job.result())["audio_length"] == pytest.approx(corpus["short.wav"])
            inputs = [url(files, "stereo.wav"), url(files, "missing.wav")]
            results = await sdk.map("audio.length", inputs, return_exceptions=True)
            assert isinstance(results[1], JobFailedError)
            slow = await sdk.submit("audio.length", url(files, "slow/30/short.wav"))
            assert (await slow.cancel()).status is JobStatus.CANCELED
            with pytest.raises(NotFoundError):
                await sdk.get_job(str(uuid.uuid4()))

    asyncio.run(scenario())


# ---- the command line -----------------------------------------------------------------------


def cli(*args: str, stdin: str | None = None) -> Result:
    return CliRunner().invoke(main, list(args), input=stdin, catch_exceptions=False)


def test_cli_submit_wait_status(api: Stack, files: FileServer) -> None:
    queued = cli(
        "submit", "audio.length", "-i", f"url={files.base_url}/short.wav", "--url", api.url
    )
    assert queued.exit_code == 0, queued.output
    job_id = queued.stdout.strip()
    waited = cli("wait", job_id, "--json", "--url", api.url)
    assert waited.exit_code == 0 and json.loads(waited.stdout)["status"] == "succeeded"
    shown = cli("status", job_id, "--url", api.url)
    assert shown.exit_code == 0 and "succeeded" in shown.stdout and "3.00 s" in shown.stdout
    done = cli(
        "submit", "euro.results", "-i", "draw_date=2024-01-06", "--wait", "--json", "--url", api.url
    )
    assert done.exit_code == 1
    assert json.loads(done.stdout)["error"]["code"] == "no_draw_on_date"


def test_cli_run_table_and_json_lines(api: Stack, files: FileServer) -> None:
    ok = cli(
        "run",
        "audio.length",
        f"{files.base_url}/short.wav",
        f"{files.base_url}/tone.flac",
        "--url",
        api.url,
    )
    assert ok.exit_code == 0, ok.output
    assert "short.wav" in ok.stdout and "3.00 s · 8000 Hz · 1 ch · wav" in ok.stdout
    assert "2 succeeded" in ok.stderr
    some_failed = cli(
        "run",
        "audio.length",
        "--json",
        "--url",
        api.url,
        "-",
        stdin=f"{files.base_url}/short.wav\n{files.base_url}/missing.wav\nnot-a-url\n",
    )
    assert some_failed.exit_code == 2  # a refused input (422) comes before a failed job
    lines = sorted(
        (json.loads(line) for line in some_failed.stdout.splitlines()),
        key=lambda line: line["index"],
    )
    assert [line["status"] for line in lines] == ["succeeded", "failed", "refused"]
    assert lines[1]["error"]["code"] == "download_failed" and lines[1]["id"]
    assert lines[2]["error"]["code"] == "invalid_request"
    draws = cli("run", "euro.results", "2024-01-06", "2024-01-07", "--url", api.url)
    assert draws.exit_code == 1 and draws.stdout.count("no_draw_on_date") == 2


def test_cli_exit_codes(api: Stack, files: FileServer) -> None:
    assert cli("status", str(uuid.uuid4()), "--url", api.url).exit_code == 4
    bad = cli("submit", "audio.length", "-i", "url=not-a-url", "--url", api.url)
    assert bad.exit_code == 2 and "input.url" in bad.stderr
    assert cli("submit", "audio.length", "-i", "no-equals-sign", "--url", api.url).exit_code == 2
    refused = cli("run", "audio.length", "not-a-url", "--url", api.url)
    assert refused.exit_code == 2 and "refused (422" in refused.stdout  # as --help says
    unknown = cli("run", "audio.nothing", "x", "--url", api.url)
    assert unknown.exit_code == 2 and "audio.length" in unknown.stderr
    down = cli("tasks", "--url", f"http://127.0.0.1:{free_port()}")
    assert down.exit_code == 3 and "cannot reach" in down.stderr
    slow = cli(
        "submit", "audio.length", "-i", f"url={files.base_url}/slow/30/short.wav", "--url", api.url
    )
    job_id = slow.stdout.strip()
    timed_out = cli("wait", job_id, "--timeout", "0.3", "--url", api.url)
    assert timed_out.exit_code == 5 and "still" in timed_out.stderr
    assert cli("cancel", job_id, "--url", api.url).exit_code == 0
    finished = cli(
        "submit",
        "audio.length",
        "-i",
        f"url={files.base_url}/short.wav",
        "--wait",
        "--url",
        api.url,
    )
    assert finished.exit_code == 0
    job = json.loads(cli("jobs", "--json", "--limit", "1", "--url", api.url).stdout)
    assert cli("cancel", job["id"], "--url", api.url).exit_code == 6


def test_cli_tasks_jobs_and_help(api: Stack) -> None:
    tasks = cli("tasks", "--url", api.url)
    assert tasks.exit_code == 0 and "audio.length" in tasks.stdout and "url" in tasks.stdout
    assert {t["name"] for t in json.loads(cli("tasks", "--json", "--url", api.url).stdout)} >= {
        "audio.length",
        "euro.results",
    }
    listed = cli("jobs", "--limit", "5", "--url", api.url)
    assert listed.exit_code == 0 and "audio.length" in listed.stdout
    for command in ("submit", "status", "wait", "cancel", "jobs", "tasks", "run", "demo"):
        help_text = cli(command, "--help").stdout
        assert "Example" in help_text and "--url" in help_text, command
    assert "Exit codes" in cli("run", "--help").stdout


def test_cli_reads_url_and_key_from_the_environment(
    api: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Without --url the command must find the API through ASYNCML_URL (the default port has
    # nothing listening here); the key is sent along (checked on the wire in tests/unit).
    monkeypatch.setenv("ASYNCML_API_KEY", "secret-key")
    monkeypatch.setenv("ASYNCML_URL", api.url)
    assert cli("tasks", "--json").exit_code == 0
