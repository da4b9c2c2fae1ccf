"""Operations against real processes: /metrics and /v1/queues move as jobs are accepted,
wait, run and end; JSON logs carry the job id; Flower runs on the same broker."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import require_module
from tests.integration.conftest import layout_env, start_stack, stop_stack
from tests.integration.fileserver import FileServer
from tests.integration.stack import Stack, free_port, wait_for
from tests.prometheus import Samples, delta, parse, value

pytestmark = pytest.mark.integration


def scrape(stack: Stack) -> Samples:
    response = stack.client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return parse(response.text)


def queues(stack: Stack) -> dict[str, dict[str, Any]]:
    response = stack.client.get("/v1/queues")
    assert response.status_code == 200
    return {q["name"]: q for q in response.json()}


@pytest.fixture(params=["redis", "rabbitmq"])
def idle(request: pytest.FixtureRequest, files: FileServer, tmp_path: Path) -> Iterator[Stack]:
    stack = start_stack(request.param, files, tmp_path, workers=0)
    yield stack
    stop_stack(stack, tmp_path)


def test_backlog_shows_without_workers_and_drains(idle: Stack, files: FileServer) -> None:
    ids = [
        idle.submit("audio.length", {"url": f"{files.base_url}/short.wav?n={n}"}).json()["id"]
        for n in range(3)
    ]
    m = scrape(idle)
    assert value(m, "asyncml_queue_depth", queue="audio") == 3
    assert value(m, "asyncml_queue_waiting_jobs", queue="audio") == 3
    assert value(m, "asyncml_queue_waiting_jobs", queue="euro") == 0
    assert (value(m, "asyncml_queue_oldest_job_age_seconds", queue="audio") or 0) > 0
    assert value(m, "asyncml_queue_workers", queue="audio") == 0
    audio = queues(idle)["audio"]
    assert audio["depth"] == 3 and audio["waiting"] == 3 and audio["workers"] == 0
    assert audio["oldest_waiting_age_s"] > 0 and "audio.length" in audio["tasks"]
    positions = [idle.client.get(f"/v1/jobs/{i}").json()["queue_position"] for i in ids]
    assert positions == [0, 1, 2]

    worker = idle.start_worker(queues="audio", concurrency=2)
    assert all(idle.wait_job(i)["status"] == "succeeded" for i in ids)
    assert idle.client.get(f"/v1/jobs/{ids[0]}").json()["queue_position"] is None
    # The broker's depth is cached for a second, so it may still say 3 just after the drain.
    # On a Redis broker the worker runs the solo pool: each of its 2 processes is a Celery
    # node of its own (docs/operations.md, worker pools); on RabbitMQ prefork, one node.
    nodes = 1 if idle.name == "rabbitmq" else 2
    audio = wait_for(
        lambda: (q := queues(idle)["audio"])["workers"] == nodes and q["depth"] == 0 and q,
        15,
        "heartbeats and an empty queue",
    )
    assert audio["worker_processes"] == 2 and audio["waiting"] == 0
    assert audio["depth"] == 0 and audio["oldest_waiting_age_s"] is None
    m = scrape(idle)
    assert value(m, "asyncml_queue_depth", queue="audio") == 0
    assert value(m, "asyncml_queue_oldest_job_age_seconds", queue="audio") == 0
    assert value(m, "asyncml_queue_workers", queue="euro") == 0
    assert value(m, "asyncml_job_queue_wait_seconds_count", task="audio.length") == 3
    # A worker that shuts down stops counting at once, not when its heartbeat goes stale.
    os.killpg(worker.pid, signal.SIGTERM)
    worker.wait(15)
    assert queues(idle)["audio"]["workers"] == 0


@pytest.fixture(scope="module")
def ops(files: FileServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Redis layout, JSON logs, one worker for every queue."""
    tmp = tmp_path_factory.mktemp("ops")
    env = layout_env("redis", files, tmp) | {"ASYNCML_LOG_FORMAT": "json"}
    stack = Stack("ops", env, tmp)
    stack.start_worker(queues="audio,euro")
    stack.start_api()
    # Concurrency 2 on a Redis broker: the solo pool's two processes, a node each.
    try:
        wait_for(lambda: queues(stack)["audio"]["workers"] == 2, 15, "the worker's heartbeats")
        yield stack
    finally:
        stop_stack(stack, tmp)


def test_metrics_count_real_jobs(ops: Stack, files: FileServer) -> None:
    before = scrape(ops)
    jobs = [
        ops.submit("audio.length", {"url": f"{files.base_url}/short.wav"}),
        ops.submit("audio.length", {"url": f"{files.base_url}/tone.flac"}),
        ops.submit("audio.length", {"url": f"{files.base_url}/missing.wav"}),
        ops.submit("euro.results", {"draw_date": "2024-01-05"}),
    ]
    done = [ops.wait_job(r.json()["id"]) for r in jobs]
    assert [j["status"] for j in done] == ["succeeded", "succeeded", "failed", "succeeded"]
    after = scrape(ops)

    def moved(name: str, **labels: str) -> float:
        return delta(before, after, name, **labels)

    audio = {"task": "audio.length"}
    assert moved("asyncml_jobs_submitted_total", **audio) == 3
    assert moved("asyncml_jobs_submitted_total", task="euro.results") == 1
    assert moved("asyncml_jobs_finished_total", outcome="succeeded", **audio) == 2
    assert moved("asyncml_jobs_finished_total", outcome="failed", **audio) == 1
    assert moved("asyncml_jobs_finished_total", outcome="succeeded", task="euro.results") == 1
    assert moved("asyncml_jobs_finished_total", outcome="canceled", **audio) == 0
    assert moved("asyncml_job_queue_wait_seconds_count", **audio) == 3
    assert moved("asyncml_job_run_seconds_count", **audio) == 3
    assert moved("asyncml_job_run_seconds_bucket", le="+Inf", **audio) == 3
    assert moved("asyncml_job_run_seconds_sum", **audio) > 0
    assert moved("asyncml_job_run_seconds_count", task="euro.results") == 1
    route = {"method": "POST", "route": "/v1/jobs", "status": "202"}
    assert moved("asyncml_http_requests_total", **route) == 4
    polled = {"method": "GET", "route": "/v1/jobs/{job_id}", "status": "200"}
    assert moved("asyncml_http_requests_total", **polled) >= 4
    assert moved("asyncml_http_request_duration_seconds_count", method="GET", route="/metrics") >= 1
    assert value(after, "asyncml_store_up") == 1
    # One worker, concurrency 2, on a Redis broker: the solo pool's two processes are two
    # nodes (docs/operations.md, worker pools).
    assert value(after, "asyncml_queue_workers", queue="euro") == 2
    assert value(after, "asyncml_queue_worker_processes", queue="euro") == 2
    unknown = ops.client.get("/no/such/page")
    assert unknown.status_code == 404
    assert (
        value(
            scrape(ops),
            "asyncml_http_requests_total",
            method="GET",
            route="unmatched",
            status="404",
        )
        == 1
    )


def test_cancel_counts_as_canceled(ops: Stack, files: FileServer) -> None:
    before = scrape(ops)
    job = ops.submit("audio.length", {"url": f"{files.base_url}/slow/5/short.wav"}).json()
    ops.wait_status(job["id"], "started")
    assert ops.client.post(f"/v1/jobs/{job['id']}/cancel").status_code == 200
    after = scrape(ops)
    assert (
        delta(before, after, "asyncml_jobs_finished_total", task="audio.length", outcome="canceled")
        == 1
    )
    # A canceled run has no run time; it started, so its time in queue was observed.
    assert delta(before, after, "asyncml_job_run_seconds_count", task="audio.length") == 0
    assert delta(before, after, "asyncml_job_queue_wait_seconds_count", task="audio.length") == 1


def _json_lines(path: Path) -> list[dict[str, Any]]:
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    entries = []
    for line in lines:
        try:
            entries.append(json.loads(line))
        except ValueError:
            raise AssertionError(f"{path.name}: not a JSON line: {line!r}") from None
    return entries


def test_json_logs_carry_the_job_id(ops: Stack, files: FileServer) -> None:
    job_id = ops.submit("audio.length", {"url": f"{files.base_url}/stereo.wav"}).json()["id"]
    assert ops.wait_job(job_id)["status"] == "succeeded"
    # The worker logs the outcome after recording it: wait for that line, not a fixed time.
    worker_log = ops.log_dir / "ops-worker-0.log"
    wait_for(
        lambda: f"job {job_id}: succeeded in" in worker_log.read_text(), 10, "the outcome line"
    )
    for name in ("ops-api.log", "ops-worker-0.log"):
        entries = _json_lines(ops.log_dir / name)
        about = [e for e in entries if job_id in e["message"]]
        assert about, f"{name} has no line about job {job_id}"
        assert all(e.get("job_id") == job_id for e in about), (name, about)
        assert all({"ts", "level", "logger", "message"} <= e.keys() for e in entries)
    worker = _json_lines(worker_log)
    assert any(e["logger"].startswith("celery") and e.get("job_id") == job_id for e in worker)


def test_flower_runs_on_the_same_broker(ops: Stack, files: FileServer) -> None:
    require_module("flower", "pip install -e '.[ops]'")
    port = free_port()
    env = ops.env | {"ASYNCML_TASK_EVENTS": "true", "FLOWER_UNAUTHENTICATED_API": "true"}
    with open(ops.log_dir / "flower.log", "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "asyncml", "flower", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"

    def get(path: str) -> httpx.Response | None:
        assert proc.poll() is None, (ops.log_dir / "flower.log").read_text()
        with contextlib.suppress(httpx.HTTPError):
            return httpx.get(url + path, timeout=5)
        return None

    try:
        wait_for(lambda: (r := get("/healthcheck")) is not None and r.text == "OK", 20, "Flower")
        workers = wait_for(lambda: (r := get("/api/workers?refresh=1")) and r.json(), 15, "workers")
        assert any(name.startswith("audio+euro-") for name in workers), workers
        # Flower switches task events on in the running worker (every 5 s): from then on it
        # sees every job.
        submitted: list[str] = []

        def seen() -> bool:
            tasks = (r := get("/api/tasks")) is not None and r.json()
            if tasks and any(job_id in tasks for job_id in submitted):
                return True
            job = ops.submit("audio.length", {"url": f"{files.base_url}/short.wav"}).json()
            submitted.append(job["id"])
            return False

        wait_for(seen, 30, "a job in Flower's task list", every=0.5)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(10)
