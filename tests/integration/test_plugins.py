"""Tasks as plug-ins, end to end: workers advertise them, the API validates against what they
advertised without ever importing them, jobs wait while no worker runs, fixture tasks show
each behaviour of the runtime (progress, errors, setup failures, versions, cancel, output).

Everything runs for real: a Redis broker and store, an API process, worker processes
loading ``tests.plugins.fixture_tasks`` by import string.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.integration.conftest import layout_env, stop_stack
from tests.integration.fileserver import FileServer
from tests.integration.stack import Stack, wait_for

pytestmark = pytest.mark.integration

FIXTURES = "tests.plugins.fixture_tasks"


def new_stack(tmp: Path, files: FileServer, log: Path) -> Stack:
    env = layout_env("redis", files, tmp) | {"ASYNCML_FIXTURE_IMPORT_LOG": str(log)}
    return Stack("redis", env, tmp)


def start_fixture_worker(stack: Stack, *options: str) -> None:
    stack.start_worker("fixture", 1, "--tasks", FIXTURES, *options)


@pytest.fixture(scope="module")
def fixture_stack(
    files: FileServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Stack, Path]]:
    tmp = tmp_path_factory.mktemp("plugins")
    log = tmp / "imports.log"
    stack = new_stack(tmp, files, log)
    stack.start_api(register=False)
    start_fixture_worker(stack)
    stack.wait_tasks(("fixture.echo", "fixture.fail", "fixture.sleep"))
    yield stack, log
    stop_stack(stack, tmp)


def _submit(stack: Stack, task: str, payload: dict[str, object]) -> httpx.Response:
    return stack.submit(task, payload)


def _events(stack: Stack, job_id: str) -> list[tuple[str, dict[str, object]]]:
    events = []
    with stack.client.stream("GET", f"/v1/jobs/{job_id}/events", timeout=30) as response:
        name = None
        for line in response.iter_lines():
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: ") and name:
                events.append((name, json.loads(line[6:])))
    return events


def test_inputs_are_validated_against_the_advertised_schema(
    fixture_stack: tuple[Stack, Path],
) -> None:
    stack, _ = fixture_stack
    empty = _submit(stack, "fixture.echo@1", {"text": ""})
    assert empty.status_code == 422
    assert empty.json()["detail"][0]["loc"] == ["body", "input", "text"]
    extra = _submit(stack, "fixture.echo@1", {"text": "a", "times": 9})
    assert extra.status_code == 422 and "times" in extra.json()["error"]["message"]
    missing = _submit(stack, "fixture.echo@7", {"text": "a"})
    assert missing.status_code == 422
    assert "registered versions: " in missing.json()["error"]["message"]


def test_a_plain_name_means_the_newest_version_and_a_pin_runs_its_own(
    fixture_stack: tuple[Stack, Path],
) -> None:
    stack, _ = fixture_stack
    newest = _submit(stack, "fixture.echo", {"kib": 1})
    assert newest.status_code == 202, newest.text
    assert newest.json()["version"] == "2"
    assert stack.wait_job(newest.json()["id"])["result"] == {"data": "X"}
    # Version 1's input is not version 2's: the pin decides which schema applies and runs.
    assert _submit(stack, "fixture.echo", {"text": "a"}).status_code == 422
    pinned = _submit(stack, "fixture.echo@1", {"text": "ab", "times": 2})
    job = stack.wait_job(pinned.json()["id"])
    assert job["status"] == "succeeded" and job["version"] == "1"
    assert job["result"]["text"] == "abab"


def test_progress_shows_on_the_job_and_as_events(fixture_stack: tuple[Stack, Path]) -> None:
    stack, _ = fixture_stack
    job_id = _submit(stack, "fixture.echo@1", {"text": "a", "times": 3}).json()["id"]
    events = _events(stack, job_id)
    names = [name for name, _ in events]
    assert names[0] == "queued" and names[-1] == "succeeded"
    progress = [data["progress"] for name, data in events if name == "progress"]
    assert [p["done"] for p in progress] == [1, 2, 3]
    assert progress[-1] == {"done": 3, "total": 3, "message": "repetition 3"}
    finished = stack.client.get(f"/v1/jobs/{job_id}").json()
    assert finished["progress"]["done"] == 3


def test_task_errors_keep_their_code_and_others_are_internal_errors(
    fixture_stack: tuple[Stack, Path],
) -> None:
    stack, _ = fixture_stack
    failed = stack.wait_job(_submit(stack, "fixture.fail", {}).json()["id"])
    assert failed["error"] == {"code": "fixture_failed", "message": "failed on purpose"}
    crashed = stack.wait_job(_submit(stack, "fixture.crash", {}).json()["id"])
    assert crashed["error"]["code"] == "internal_error"
    assert "ZeroDivisionError" in crashed["error"]["message"]
    assert "Traceback" not in crashed["error"]["message"]
    wrong = stack.wait_job(_submit(stack, "fixture.wrong_output", {}).json()["id"])
    assert wrong["error"]["code"] == "internal_error"
    assert "output does not match Blob" in wrong["error"]["message"]
    big = stack.wait_job(_submit(stack, "fixture.big", {"kib": 512}).json()["id"])
    assert big["status"] == "succeeded" and len(big["result"]["data"]) == 512 * 1024


def test_a_failed_setup_leaves_jobs_queued_and_says_why(
    fixture_stack: tuple[Stack, Path],
) -> None:
    stack, _ = fixture_stack
    job_id = _submit(stack, "fixture.broken", {}).json()["id"]

    def reported() -> dict[str, object] | None:
        info = stack.client.get("/v1/tasks/fixture.broken").json()[0]
        return info if info["setup_errors"] else None

    info = wait_for(reported, 30, "the setup failure in the registry")
    assert "the model file is missing" in info["setup_errors"][0]["error"]
    assert info["workers"] == 0  # online, but not set up for it
    job = stack.client.get(f"/v1/jobs/{job_id}").json()
    assert job["status"] == "queued" and job["attempts"] == 0


def test_a_running_task_sees_its_cancel(fixture_stack: tuple[Stack, Path]) -> None:
    stack, _ = fixture_stack
    job_id = _submit(stack, "fixture.sleep", {"seconds": 60}).json()["id"]
    stack.wait_status(job_id, "started")
    assert stack.client.post(f"/v1/jobs/{job_id}/cancel").status_code == 200
    # The worker's only process is free again: the next job runs.
    follow = _submit(stack, "fixture.sleep", {"seconds": 0}).json()["id"]
    assert stack.wait_job(follow, timeout=30)["status"] == "succeeded"
    assert stack.client.get(f"/v1/jobs/{job_id}").json()["status"] == "canceled"


def _asyncml(stack: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "asyncml", *args]
    return subprocess.run(command, env=stack.env, capture_output=True, text=True, timeout=60)


def test_forget_and_register_from_the_command_line(fixture_stack: tuple[Stack, Path]) -> None:
    stack, _ = fixture_stack
    unknown = _asyncml(stack, "tasks", "forget", "fixture.nothing")
    assert unknown.returncode == 1 and "no task 'fixture.nothing'" in unknown.stderr

    def status() -> int:
        return _submit(stack, "fixture.crash", {}).status_code

    # The worker is frozen while the API is asked: its heartbeat (every 5 s) would write the
    # manifest back, and on two busy cores that can come before the first question.
    worker = stack.workers[0].pid
    os.killpg(worker, signal.SIGSTOP)
    try:
        forgot = _asyncml(stack, "tasks", "forget", "fixture.crash")
        assert forgot.returncode == 0 and "forgot fixture.crash@1" in forgot.stdout
        wait_for(lambda: status() == 422, 10, "the API to forget fixture.crash")
    finally:
        os.killpg(worker, signal.SIGCONT)
    # Its worker is still up: its next heartbeat writes the manifest back.
    wait_for(lambda: status() == 202, 30, "the worker's heartbeat to restore fixture.crash")
    registered = _asyncml(stack, "tasks", "register", "--tasks", FIXTURES)
    assert registered.returncode == 0, registered.stderr
    assert "registered fixture.kill@1 (queue fixture)" in registered.stdout
