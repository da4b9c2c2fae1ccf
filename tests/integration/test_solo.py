"""``asyncml worker --pool solo`` (the default on a Redis broker): jobs run in single-process
workers under a supervisor, with prefork's guarantees: a killed process's job comes back at
once (not after the visibility timeout), the process is replaced, and the soft time limit
still stops a job."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from tests.integration.conftest import layout_env, stop_stack
from tests.integration.fileserver import FileServer, HoldServer
from tests.integration.stack import Stack, socket_owner, wait_for

pytestmark = pytest.mark.integration


def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry))
    return found


@pytest.mark.parametrize("layout", ["redis", "embedded"])
def test_killed_process_job_runs_again_at_once(
    layout: str, files: FileServer, tmp_path: Path
) -> None:
    # A visibility timeout far above the wait below: only the supervisor's requeue can
    # bring the job back in time.
    env = layout_env(layout, files, tmp_path) | {
        "ASYNCML_TASK_SOFT_TIME_LIMIT_S": "40",
        "ASYNCML_TASK_TIME_LIMIT_S": "50",
        "ASYNCML_VISIBILITY_TIMEOUT_S": "300",
        "ASYNCML_FETCH_TIMEOUT_S": "30",
        "ASYNCML_LEASE_S": "2",
    }
    stack = Stack(layout, env, tmp_path)
    supervisor = stack.start_worker("audio", 2, "--pool", "solo")
    stack.start_api()
    hold = HoldServer()
    try:
        processes = wait_for(lambda: len(_children(supervisor.pid)) == 2, 30, "two processes")
        assert processes
        first = set(_children(supervisor.pid))
        job = stack.submit("audio.length", {"url": f"{hold.url}/held.wav"}).json()
        wait_for(lambda: hold.clients, 30, "the download to start")
        victim = wait_for(lambda: socket_owner(hold.clients[0]), 10, "the worker process")
        assert victim in first  # a solo process runs the job itself, not a pool child
        os.kill(victim, signal.SIGKILL)
        hold.release.set()  # the second attempt gets an answer (503) at once

        done = stack.wait_job(job["id"], timeout=60)
        assert done["attempts"] == 2, done
        assert done["status"] == "failed" and done["error"]["code"] == "download_failed"
        assert len(hold.hits) == 2
        # The supervisor replaced the killed process and still serves.
        wait_for(lambda: len(_children(supervisor.pid)) == 2, 30, "a replacement process")
        assert victim not in _children(supervisor.pid)
        after = stack.submit("audio.length", {"url": f"{files.base_url}/short.wav"}).json()
        assert stack.wait_job(after["id"])["status"] == "succeeded"
    finally:
        hold.stop()
        stop_stack(stack, tmp_path)


def test_soft_time_limit_stops_a_job_in_a_solo_process(files: FileServer, tmp_path: Path) -> None:
    # The download would wait 10 s; the soft limit (2 s) stops the job before it.
    env = layout_env("redis", files, tmp_path) | {
        "ASYNCML_TASK_SOFT_TIME_LIMIT_S": "2",
        "ASYNCML_TASK_TIME_LIMIT_S": "6",
        "ASYNCML_VISIBILITY_TIMEOUT_S": "20",
        "ASYNCML_FETCH_TIMEOUT_S": "10",
    }
    stack = Stack("redis", env, tmp_path)
    supervisor = stack.start_worker("audio", 1, "--pool", "solo")
    stack.start_api()
    hold = HoldServer()
    try:
        job = stack.submit("audio.length", {"url": f"{hold.url}/slow.wav"}).json()
        done = stack.wait_job(job["id"], timeout=30)
        assert done["status"] == "failed" and done["error"]["code"] == "timeout", done
        # The time limit's message, not the download's own deadline (10 s) running out.
        assert done["error"]["message"] == "the job ran longer than its 2s limit and was stopped"
        assert done["attempts"] == 1
        hold.release.set()
        # The same process goes on to the next job.
        (process,) = _children(supervisor.pid)
        after = stack.submit("audio.length", {"url": f"{files.base_url}/short.wav"}).json()
        assert stack.wait_job(after["id"])["status"] == "succeeded"
        assert _children(supervisor.pid) == [process]
    finally:
        hold.stop()
        stack.stop()
