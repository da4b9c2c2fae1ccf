"""Priorities, start deadlines and per-job time limits with real brokers and workers: on
RabbitMQ (priority queues, prefork pool) and on Redis (kombu's priority lists, solo pool).

One worker process serves the fixture queue; a sleeping job keeps it busy while others
queue up behind it."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator

import pytest
from kombu import Connection

from tests.integration.conftest import AMQP_URL, layout_env, start_stack, stop_stack
from tests.integration.fileserver import FileServer
from tests.integration.stack import Stack

pytestmark = pytest.mark.integration

FIXTURES = "tests.plugins.fixture_tasks"
QUICK = "fixture.echo@2"  # returns at once


def _forget_fixture_queue() -> None:
    """The fixture queue as a fresh install finds it: not declared yet (an earlier run may
    have declared it without priorities)."""
    with Connection(AMQP_URL, connect_timeout=5) as conn, contextlib.suppress(conn.channel_errors):
        conn.default_channel.queue_delete("fixture")


@pytest.fixture(scope="module", params=["rabbitmq", "redis"])
def busy(
    request: pytest.FixtureRequest, files: FileServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp(f"scheduling-{request.param}")
    if request.param == "rabbitmq":
        layout_env("rabbitmq", files, tmp)  # makes the test vhost
        _forget_fixture_queue()
    stack = start_stack(request.param, files, tmp, workers=0)
    try:
        stack.start_worker("fixture", 1, "--tasks", FIXTURES)
        stack.wait_tasks(("fixture.sleep", "fixture.echo"))
        yield stack
    finally:
        stop_stack(stack, tmp)


def _submit(stack: Stack, task: str, payload: dict[str, object], **options: object) -> str:
    response = stack.client.post("/v1/jobs", json={"task": task, "input": payload, **options})
    assert response.status_code == 202, response.text
    job_id: str = response.json()["id"]
    return job_id


def test_a_higher_priority_starts_first_and_late_jobs_expire(busy: Stack) -> None:
    sleeper = _submit(busy, "fixture.sleep", {"seconds": 60})
    busy.wait_status(sleeper, "started")
    low = [_submit(busy, QUICK, {"kib": 1}) for _ in range(200)]
    late = _submit(busy, QUICK, {"kib": 1}, start_within_s=1, priority=9)
    urgent = _submit(busy, QUICK, {"kib": 1}, priority=9)
    # Nobody takes the late job while the worker is busy: the sweeper ends it.
    expired = busy.wait_status(late, "expired", timeout=15)
    assert expired["error"]["code"] == "expired"
    assert expired["started_at"] is None and expired["attempts"] == 0
    assert busy.client.post(f"/v1/jobs/{sleeper}/cancel").status_code == 200
    first = busy.wait_job(urgent, timeout=60)
    assert first["status"] == "succeeded" and first["priority"] == 9
    starts = []
    for job_id in low:
        job = busy.wait_job(job_id, timeout=120)
        assert job["status"] == "succeeded", job
        starts.append(job["started_at"])
    assert first["started_at"] < min(starts)  # queued after all 200, started before them
    # The expired job's message, taken at last, did not run it.
    again = busy.client.get(f"/v1/jobs/{late}").json()
    assert again["status"] == "expired" and again["attempts"] == 0


def test_a_job_past_its_deadline_never_runs(busy: Stack) -> None:
    past = (dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)).isoformat()
    job_id = _submit(busy, QUICK, {"kib": 1}, deadline=past)
    job = busy.wait_job(job_id, timeout=30)
    assert job["status"] == "expired" and job["attempts"] == 0 and job["result"] is None
    assert job["deadline"] is not None
    # Its event stream tells it, and ends; resumed after its last event there is nothing.
    stream = busy.client.get(f"/v1/jobs/{job_id}/events", timeout=10).text
    assert [line for line in stream.splitlines() if line.startswith("event:")] == [
        "event: queued",
        "event: expired",
    ]
    last = [line for line in stream.splitlines() if line.startswith("id:")][-1][3:].strip()
    resumed = busy.client.get(f"/v1/jobs/{job_id}/events", headers={"Last-Event-ID": last})
    assert resumed.status_code == 204


def test_a_jobs_own_time_limit(busy: Stack) -> None:
    job_id = _submit(busy, "fixture.sleep", {"seconds": 20}, timeout_s=1)
    job = busy.wait_job(job_id, timeout=30)
    assert job["status"] == "failed" and job["timeout_s"] == 1
    assert job["error"]["code"] == "timeout" and "1s limit" in job["error"]["message"]
    # The task's own limit is 8 s here (ASYNCML_TASK_SOFT_TIME_LIMIT_S).
    above = busy.client.post(
        "/v1/jobs", json={"task": "fixture.sleep", "input": {}, "timeout_s": 9}
    )
    assert above.status_code == 422, above.text
    assert above.json()["error"]["message"].startswith("timeout_s: 9 is above the 8s limit")
