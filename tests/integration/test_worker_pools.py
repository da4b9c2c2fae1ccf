"""What a worker promises on each pool, prefork and solo, end to end (issue 22): a job past
its hard time limit ends ``failed``/``timeout`` and the worker goes on with the next job; a
worker given SIGTERM finishes the job it holds before it exits (a warm shutdown).

One Redis-layout API for the module; each pool gets a worker of its own, in turn, loading
``tests.plugins.fixture_tasks`` (``fixture.stuck`` ignores its 1 s soft limit, so only the
2 s hard limit, which ends its process, stops it).
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from typing import Any

import pytest

from tests.integration.conftest import layout_env, stop_stack
from tests.integration.fileserver import FileServer
from tests.integration.stack import Stack

pytestmark = pytest.mark.integration

FIXTURES = "tests.plugins.fixture_tasks"


@pytest.fixture(scope="module")
def api(files: FileServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("pools")
    stack = Stack("redis", layout_env("redis", files, tmp), tmp)
    try:
        stack.start_api(register=False)
        yield stack
    finally:
        stop_stack(stack, tmp)


def run(stack: Stack, task: str, payload: dict[str, Any]) -> str:
    response = stack.submit(task, payload)
    assert response.status_code == 202, response.text
    job_id: str = response.json()["id"]
    return job_id


@pytest.mark.parametrize("pool", ["prefork", "solo"])
def test_hard_time_limit_and_warm_shutdown(api: Stack, pool: str) -> None:
    worker = api.start_worker("fixture", 1, "--tasks", FIXTURES, "--pool", pool)
    try:
        api.wait_tasks(("fixture.stuck", "fixture.sleep"))

        stuck = api.wait_job(run(api, "fixture.stuck", {"seconds": 30}), timeout=30)
        assert stuck["status"] == "failed", stuck
        assert stuck["error"]["code"] == "timeout" and stuck["attempts"] == 1
        # Its process was ended; the worker goes on (a new process) with the next job.
        after = api.wait_job(run(api, "fixture.sleep", {"seconds": 0}), timeout=30)
        assert after["status"] == "succeeded", after
        assert api.client.get(f"/v1/jobs/{stuck['id']}").json()["status"] == "failed"

        held = run(api, "fixture.sleep", {"seconds": 3})
        api.wait_status(held, "started")
        worker.send_signal(signal.SIGTERM)  # to the main process, as docker stop and k8s do
        assert worker.wait(30) == 0
        done = api.client.get(f"/v1/jobs/{held}").json()
        assert done["status"] == "succeeded", done  # finished before the worker exited
        assert done["result"]["slept"] >= 3 and done["result"]["cancelled"] is False
        assert done["attempts"] == 1
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()
        api.workers.remove(worker)
