"""No accepted job is lost: a queued job can be canceled before it runs, a worker killed
mid-job hands its job to the next worker, a restart keeps what was accepted."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import LAYOUTS, start_stack, stop_stack
from tests.integration.fileserver import FileServer
from tests.integration.stack import Stack

pytestmark = pytest.mark.integration


@pytest.fixture(params=LAYOUTS)
def idle(request: pytest.FixtureRequest, files: FileServer, tmp_path: Path) -> Iterator[Stack]:
    """A deployment with the API up and no worker yet."""
    stack = start_stack(request.param, files, tmp_path, workers=0)
    yield stack
    stop_stack(stack, tmp_path)


def test_cancel_queued_job_never_runs(idle: Stack, files: FileServer) -> None:
    job = idle.submit("audio.length", {"url": f"{files.base_url}/short.wav?canceled"}).json()
    canceled = idle.client.post(f"/v1/jobs/{job['id']}/cancel")
    assert canceled.status_code == 200 and canceled.json()["status"] == "canceled"
    idle.start_worker()
    marker = idle.submit("audio.length", {"url": f"{files.base_url}/short.wav?after"}).json()
    assert idle.wait_job(marker["id"])["status"] == "succeeded"
    after = idle.client.get(f"/v1/jobs/{job['id']}").json()
    assert after["status"] == "canceled" and after["attempts"] == 0
    assert "/short.wav?canceled" not in files.requests


def test_killed_worker_job_completes(
    idle: Stack, files: FileServer, corpus: dict[str, float]
) -> None:
    idle.start_worker()
    job = idle.submit("audio.length", {"url": f"{files.base_url}/slow/2/short.wav"}).json()
    idle.wait_status(job["id"], "started")
    idle.kill_workers()  # SIGKILL the worker and its pool processes mid-job
    idle.start_worker()
    done = idle.wait_job(job["id"], timeout=60)
    assert done["status"] == "succeeded", done
    assert done["result"]["audio_length"] == pytest.approx(corpus["short.wav"])
    assert done["attempts"] == 2


def test_jobs_accepted_without_workers_run_later(idle: Stack, files: FileServer) -> None:
    ids = [
        idle.submit("audio.length", {"url": f"{files.base_url}/short.wav"}).json()["id"]
        for _ in range(20)
    ]
    assert all(idle.client.get(f"/v1/jobs/{i}").json()["status"] == "queued" for i in ids)
    idle.start_worker()
    assert all(idle.wait_job(i)["status"] == "succeeded" for i in ids)
