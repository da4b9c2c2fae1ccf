"""The task registry across process lifetimes: an API started before any worker learns a
task within seconds, never imports it, and keeps accepting its jobs while no worker runs.

Its own module: these tests need the broker and store to themselves, while
``test_plugins`` keeps a deployment running for the whole module.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import redis

from asyncml.store.registry import MANIFESTS_KEY
from tests.integration.conftest import stop_stack
from tests.integration.fileserver import FileServer
from tests.integration.stack import Stack, wait_for
from tests.integration.test_plugins import new_stack, start_fixture_worker

pytestmark = pytest.mark.integration


def _submit(stack: Stack, task: str, payload: dict[str, object]) -> httpx.Response:
    return stack.submit(task, payload)


def test_an_api_started_first_learns_a_new_task_without_a_restart(
    files: FileServer, tmp_path: Path
) -> None:
    log = tmp_path / "imports.log"
    stack = new_stack(tmp_path, files, log)
    try:
        stack.start_api(register=False)
        refused = _submit(stack, "fixture.echo", {"text": "hi"})
        assert refused.status_code == 422
        assert refused.json()["error"]["code"] == "unknown_task"
        start_fixture_worker(stack)

        def accepted() -> httpx.Response | None:
            response = _submit(stack, "fixture.echo@1", {"text": "hi"})
            return response if response.status_code == 202 else None

        # Accepted once the worker has written its manifests, by the same API process.
        created = wait_for(accepted, 30, "the API to accept fixture.echo@1", every=0.1)
        job = stack.wait_job(created.json()["id"])
        assert job["status"] == "succeeded", job
        assert job["result"] == {"text": "hi", "setups": 1} and job["version"] == "1"
        api_pid = stack.api.pid if stack.api else None
        importers = [int(line.split()[0]) for line in log.read_text().splitlines()]
        assert importers, "the worker imported the fixture tasks"
        assert api_pid not in importers
        assert all("api" not in line.split()[1:] for line in log.read_text().splitlines())
    finally:
        stop_stack(stack, tmp_path)


def test_a_task_with_no_worker_accepts_jobs_that_run_once_one_starts(
    files: FileServer, tmp_path: Path
) -> None:
    stack = new_stack(tmp_path, files, tmp_path / "imports.log")
    try:
        stack.start_api(register=False)
        # prefork: its pool processes share its process group, so kill_workers gets all
        start_fixture_worker(stack, "--pool", "prefork")
        stack.wait_tasks(("fixture.echo",))
        stack.kill_workers()  # scaled to zero: the manifest stays
        store = redis.Redis.from_url(stack.store_url)
        assert store.hexists(MANIFESTS_KEY, "fixture.echo@1")
        job_id = _submit(stack, "fixture.echo@1", {"text": "z"}).json()["id"]
        assert stack.client.get(f"/v1/jobs/{job_id}").json()["status"] == "queued"
        start_fixture_worker(stack)
        assert stack.wait_job(job_id, timeout=60)["status"] == "succeeded"
    finally:
        stop_stack(stack, tmp_path)
