"""The inference runtime end to end, on both brokers: real API, real worker processes
running the fixture tasks of ``tests.plugins.runtime_tasks``, real webhooks.

Batching: a batch is gathered from jobs already waiting, each job is recorded, evented,
webhooked and acknowledged on its own, an item's failure fails its job alone, a job
canceled while queued is left out; and workers SIGKILLed mid-batch lose nothing and record
nothing twice. Retries: a retryable error runs the job again after a backoff, each failed
attempt's error is kept, and one webhook goes out, for the final outcome.
"""

from __future__ import annotations

import contextlib
import random
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from kombu.connection import Connection

from tests.conftest import STORE_DB
from tests.integration.conftest import AMQP_URL, REDIS_URL, layout_env, stop_stack
from tests.integration.fileserver import FileServer, FlakyServer
from tests.integration.receiver import Receiver
from tests.integration.stack import Stack, wait_for
from tests.integration.test_failures import finished, statuses, succeeded_events

pytestmark = pytest.mark.integration

TASKS = "tests.plugins.runtime_tasks"
QUEUES = "batch,webhooks"
# A killed worker's jobs come back within seconds: leases lapse after 2 s, a Redis broker
# restores unacknowledged messages after 6 s.
FAST = {
    "ASYNCML_TASK_SOFT_TIME_LIMIT_S": "4",
    "ASYNCML_TASK_TIME_LIMIT_S": "5",
    "ASYNCML_VISIBILITY_TIMEOUT_S": "6",
    "ASYNCML_LEASE_S": "2",
    "ASYNCML_MAX_ATTEMPTS": "20",
    "ASYNCML_REQUEUE_AFTER_S": "2",
    "ASYNCML_RETRY_BACKOFF_S": "0.3",
    "ASYNCML_RETRY_TRANSIENT": "true",  # the default, which other integration tests turn off
}


@pytest.fixture(scope="module", params=["rabbitmq", "redis"])
def batches(
    request: pytest.FixtureRequest, files: FileServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Stack, Path]]:
    """A deployment with the batched fixture tasks registered and no worker running; the
    path is the hold file (a batch with ``hold_s`` runs on while it exists)."""
    tmp = tmp_path_factory.mktemp(f"batching-{request.param}")
    hold = tmp / "hold"
    env = layout_env(request.param, files, tmp) | FAST | {"ASYNCML_FIXTURE_HOLD": str(hold)}
    if request.param == "rabbitmq":  # copies sent again with a countdown by earlier runs
        with (
            Connection(AMQP_URL, connect_timeout=5) as conn,  # type: ignore[no-untyped-call]
            contextlib.suppress(Exception),  # not declared yet
        ):
            conn.default_channel.queue_purge("batch")
    stack = Stack(request.param, env, tmp)
    try:
        stack.start_api(register=False)
        command = [sys.executable, "-m", "asyncml", "tasks", "register", "--tasks", TASKS]
        subprocess.run(command, env=stack.env, check=True, capture_output=True, timeout=60)
        yield stack, hold
    finally:
        stop_stack(stack, tmp)


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    server = Receiver().start()
    yield server
    server.stop()


@pytest.fixture
def store() -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(f"{REDIS_URL}/{STORE_DB}")
    yield client
    client.close()


def _start_worker(stack: Stack, concurrency: int = 1) -> None:
    stack.start_worker(QUEUES, concurrency, "--tasks", TASKS)


def _submit(stack: Stack, numbers: range, **extra: Any) -> list[str]:
    return stack.accept(
        lambda n: stack.client.post(
            "/v1/jobs", json={"task": "fixture.square", "input": {"n": n} | extra}
        ),
        numbers,
    )


def test_a_batch_runs_together_and_each_job_ends_on_its_own(
    batches: tuple[Stack, Path], receiver: Receiver
) -> None:
    stack, _ = batches
    ids = []
    for n in range(6):
        body = {
            "task": "fixture.square",
            "input": {"n": n, "fail": n == 2},
            "webhook": f"{receiver.url}/square-{stack.name}-{n}",
        }
        response = stack.client.post("/v1/jobs", json=body)
        assert response.status_code == 202, response.text
        ids.append(response.json()["id"])
    assert stack.client.post(f"/v1/jobs/{ids[4]}/cancel").status_code == 200
    _start_worker(stack)  # the jobs were waiting: its first batch takes all but the canceled
    try:
        jobs = [stack.wait_job(job_id, timeout=60) for job_id in ids]
        # One webhook per job, for its own outcome; none for the canceled job (not subscribed).
        hooks = {n: receiver.wait(f"/square-{stack.name}-{n}", 1) for n in (0, 1, 2, 3, 5)}
    finally:
        stack.stop_workers()
    for n, got in hooks.items():
        assert {r.headers["webhook-id"] for r in got} == {f"msg_{ids[n]}_completed"}
    assert [j["status"] for j in jobs] == [
        "succeeded",
        "succeeded",
        "failed",
        "succeeded",
        "canceled",
        "succeeded",
    ]
    ran = [jobs[i] for i in (0, 1, 3, 5)]
    assert [j["result"]["square"] for j in ran] == [0, 1, 9, 25]
    assert {j["result"]["batch"] for j in ran} == {5}  # one call: 5 jobs, the canceled left out
    assert len({j["result"]["pid"] for j in ran}) == 1
    assert jobs[2]["error"] == {"code": "odd_one", "message": "2 fails on purpose"}
    assert [j["attempts"] for j in jobs] == [1, 1, 1, 1, 0, 1]
    for job in ran:  # each job's own progress report
        assert job["progress"]["message"] == f"{job['id']} done"
    listed = {t["name"]: t for t in stack.client.get("/v1/tasks").json()}
    assert listed["fixture.square"]["limits"]["batch"] == {"max_size": 8, "max_wait_ms": 50}
    assert listed["fixture.flaky"]["limits"]["max_attempts"] == 3
    metrics = stack.client.get("/metrics").text
    assert 'asyncml_batch_size_count{task="fixture.square"} 1.0' in metrics
    assert 'asyncml_batch_size_sum{task="fixture.square"} 5.0' in metrics


def test_a_worker_killed_mid_batch_gets_every_job_back_with_its_attempt_counted(
    batches: tuple[Stack, Path], store: redis.Redis
) -> None:
    stack, hold = batches
    hold.touch()
    ids = _submit(stack, range(8), hold_s=30)
    _start_worker(stack)
    try:
        # All eight started together: one batch holds them all.
        wait_for(lambda: statuses(store, ids) == ["started"] * 8, 60, "a batch of eight")
        stack.kill_workers()  # SIGKILL the worker and its pool processes mid-batch
        hold.unlink()
        _start_worker(stack)
        jobs = [stack.wait_job(job_id, timeout=90) for job_id in ids]
    finally:
        hold.unlink(missing_ok=True)
        stack.stop_workers()
    assert [j["status"] for j in jobs] == ["succeeded"] * 8
    assert [j["attempts"] for j in jobs] == [2] * 8
    assert [j["result"]["square"] for j in jobs] == [n * n for n in range(8)]
    assert succeeded_events(store, ids) == [1] * 8


def test_a_job_canceled_while_its_batch_runs_ends_canceled_and_the_others_finish(
    batches: tuple[Stack, Path], store: redis.Redis
) -> None:
    stack, hold = batches
    hold.touch()
    ids = _submit(stack, range(3), hold_s=30)
    _start_worker(stack)
    try:
        wait_for(lambda: statuses(store, ids) == ["started"] * 3, 60, "a batch of three")
        # The job Celery delivered: the one a cancel could stop the batch for.
        assert stack.client.post(f"/v1/jobs/{ids[0]}/cancel").status_code == 200
        hold.unlink()
        jobs = [stack.wait_job(job_id, timeout=60) for job_id in ids]
    finally:
        hold.unlink(missing_ok=True)
        stack.stop_workers()
    assert [j["status"] for j in jobs] == ["canceled", "succeeded", "succeeded"]
    assert [j["result"]["square"] for j in jobs[1:]] == [1, 4]
    # A solo process lets the batch run on; prefork's revoke ends the pool child that runs
    # it, so the other jobs come back and run again (docs/batching.md).
    reruns = 1 if stack.name == "redis" else 2
    assert [j["attempts"] for j in jobs[1:]] == [reruns, reruns]


def test_the_hard_time_limit_stops_a_batch_and_times_out_each_of_its_jobs(
    batches: tuple[Stack, Path], store: redis.Redis
) -> None:
    stack, hold = batches
    hold.touch()
    ids = _submit(stack, range(3), hold_s=30, stubborn=True)  # past the soft limit (4 s)
    _start_worker(stack)
    try:
        jobs = [stack.wait_job(job_id, timeout=60) for job_id in ids]
    finally:
        hold.unlink(missing_ok=True)
        stack.stop_workers()
    assert [(j["status"], j["error"]["code"], j["attempts"]) for j in jobs] == [
        ("failed", "timeout", 1)
    ] * 3
    assert statuses(store, ids) == ["failed"] * 3  # and the killed batch's messages ran no more


def test_workers_killed_repeatedly_during_batches_lose_nothing(
    batches: tuple[Stack, Path], store: redis.Redis
) -> None:
    stack, hold = batches
    jobs, kills_wanted = 240, 3
    hold.touch()  # each batch takes 0.3 s, so kills land mid-batch
    ids = _submit(stack, range(jobs), hold_s=0.3)
    rng = random.Random(16)
    kills = 0
    _start_worker(stack, concurrency=2)
    try:
        while kills < kills_wanted:
            before, step = finished(store, ids), rng.randint(20, 40)
            wait_for(
                lambda b=before, s=step: (n := finished(store, ids)) >= b + s or n == jobs,
                60,
                "the workers to make progress",
                every=0.1,
            )
            if finished(store, ids) == jobs:
                break
            stack.kill_workers()
            kills += 1
            _start_worker(stack, concurrency=2)
        with contextlib.suppress(AssertionError):  # the assertions below say what is missing
            wait_for(lambda: finished(store, ids) == jobs, 120, "every job to finish", every=0.2)
    finally:
        hold.unlink(missing_ok=True)
        stack.stop_workers()
    bodies = [stack.client.get(f"/v1/jobs/{job_id}").json() for job_id in ids]
    by_status: dict[str, int] = {}
    for job in bodies:
        by_status[job["status"]] = by_status.get(job["status"], 0) + 1
    assert kills == kills_wanted, f"only {kills} kills: the run was too short to mean anything"
    assert by_status == {"succeeded": jobs}, by_status  # nothing lost
    assert all(n == 1 for n in succeeded_events(store, ids))  # no result recorded twice
    assert [j["result"]["square"] for j in bodies] == [n * n for n in range(jobs)]
    assert max(j["result"]["batch"] for j in bodies) > 1  # they did run in batches
    assert any(j["attempts"] > 1 for j in bodies)  # and kills did land on running batches


def test_a_retryable_error_runs_the_job_again_and_only_the_final_outcome_is_sent(
    batches: tuple[Stack, Path], receiver: Receiver
) -> None:
    stack, _ = batches
    names = ("third", "never", "batched", "drained")
    hooks = {name: f"/flaky-{stack.name}-{name}" for name in names}

    def submit(name: str, task: str, payload: dict[str, Any]) -> str:
        body = {"task": task, "input": payload, "webhook": f"{receiver.url}{hooks[name]}"}
        response = stack.client.post("/v1/jobs", json=body)
        assert response.status_code == 202, response.text
        job_id: str = response.json()["id"]
        return job_id

    ids = {  # all waiting before the worker starts: the two squares make one batch
        "third": submit("third", "fixture.flaky", {"times": 2}),
        "never": submit("never", "fixture.flaky", {"times": 5}),  # max_attempts is 3
        "batched": submit("batched", "fixture.square", {"n": 3, "flaky": 1}),
        "drained": submit("drained", "fixture.square", {"n": 4, "flaky": 1}),
    }
    _start_worker(stack)
    try:
        jobs = {name: stack.wait_job(job_id, timeout=60) for name, job_id in ids.items()}
        got = {name: receiver.wait(path, 1) for name, path in hooks.items()}
    finally:
        stack.stop_workers()
    third, never = jobs["third"], jobs["never"]
    assert third["status"] == "succeeded" and third["result"] == {"succeeded_on": 3}
    assert third["attempts"] == 3
    assert [(e["attempt"], e["code"]) for e in third["attempt_errors"]] == [
        (1, "flaky"),
        (2, "flaky"),
    ]
    assert third["attempt_errors"][1]["message"] == "attempt 2 fails on purpose"
    assert third["error"] is None
    assert never["status"] == "failed" and never["attempts"] == 3
    assert never["error"] == {"code": "flaky", "message": "attempt 3 fails on purpose"}
    assert [e["attempt"] for e in never["attempt_errors"]] == [1, 2]
    # Each item of the batch retried alone: the one Celery delivered and the one taken after.
    for name, square in (("batched", 9), ("drained", 16)):
        job = jobs[name]
        assert job["status"] == "succeeded" and job["attempts"] == 2, job
        assert job["result"]["square"] == square
        assert [e["code"] for e in job["attempt_errors"]] == ["flaky"]
    # One webhook each, for the final outcome only.
    for name, deliveries in got.items():
        assert len(receiver.at(hooks[name])) == 1, name
        assert deliveries[0].headers["webhook-id"] == f"msg_{ids[name]}_completed"


def test_a_download_that_fails_for_a_moment_is_retried_by_default(
    batches: tuple[Stack, Path],
) -> None:
    stack, _ = batches
    origin = FlakyServer(failures=2)
    _start_worker(stack)
    try:
        response = stack.client.post(
            "/v1/jobs", json={"task": "fixture.fetch", "input": {"url": f"{origin.url}/a.bin"}}
        )
        assert response.status_code == 202, response.text
        job = stack.wait_job(response.json()["id"], timeout=60)
    finally:
        stack.stop_workers()
        origin.stop()
    assert job["status"] == "succeeded" and job["result"] == {"bytes": 1000}, job
    assert job["attempts"] == 3 and origin.hits == {"/a.bin": 3}
    assert [e["code"] for e in job["attempt_errors"]] == ["download_failed"] * 2
    assert job["attempt_errors"][0]["message"].endswith("returned HTTP 503")
