"""Promises of the README and docs/reliability.md that need a deployment to show (issue 22):
a failed publish leaves nothing behind, a job past its retention is gone and counted as
expired, and an API whose connection pools are small still takes a crowd of submissions.

One Redis-layout deployment for the module (an API with only 4 store connections); its
worker starts in the retention test, after a job has waited past its record's life.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from asyncml.metrics.recording import METRICS_KEY
from tests.integration.conftest import layout_env, stop_stack
from tests.integration.fileserver import FileServer
from tests.integration.stack import Stack, free_port, wait_for

pytestmark = pytest.mark.integration

POOL = 4  # ASYNCML_STORE_MAX_CONNECTIONS: the store's pool, and the Redis broker's
CROWD, AT_ONCE = 64, 16


@pytest.fixture(scope="module")
def deployment(
    files: FileServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Stack, redis.Redis]]:
    tmp = tmp_path_factory.mktemp("promises")
    env = layout_env("redis", files, tmp) | {"ASYNCML_STORE_MAX_CONNECTIONS": str(POOL)}
    stack = Stack("redis", env, tmp)
    store = redis.Redis.from_url(env["ASYNCML_STORE_URL"])
    try:
        stack.start_api()  # no worker yet: see test_a_job_past_its_retention_…
        yield stack, store
    finally:
        store.close()
        stop_stack(stack, tmp)


def job_keys(store: redis.Redis) -> set[bytes]:
    return set(store.scan_iter("asyncml:job:*"))


def test_a_failed_publish_leaves_no_record_and_no_idempotency_key(
    deployment: tuple[Stack, redis.Redis], files: FileServer, tmp_path: Path
) -> None:
    stack, store = deployment
    # A second API on the same store whose broker cannot be reached: every publish fails.
    port = free_port()
    env = stack.env | {
        "ASYNCML_PORT": str(port),
        "ASYNCML_BROKER_URL": f"redis://127.0.0.1:{free_port()}/0",
    }
    with open(tmp_path / "api-no-broker.log", "ab") as log:
        api = subprocess.Popen(
            [sys.executable, "-m", "asyncml", "api"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)
    key = f"promise-{uuid.uuid4().hex}"
    body = {"task": "audio.length", "input": {"url": f"{files.base_url}/short.wav"}}

    def healthy() -> bool:
        assert api.poll() is None, (tmp_path / "api-no-broker.log").read_text()
        try:
            return client.get("/healthz").status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_for(healthy, 30, "the API without a broker", every=0.1)
        failed_before = int(store.hget(METRICS_KEY, "publish_failed|audio.length") or 0)
        jobs_before = job_keys(store)
        refused = client.post("/v1/jobs", json=body, headers={"Idempotency-Key": key})
        assert refused.status_code == 503, refused.text
        assert refused.headers.get("Retry-After")
        assert job_keys(store) == jobs_before  # no record left behind
        assert list(store.scan_iter(f"asyncml:idem:*{key}")) == []  # nor the key
        failed = int(store.hget(METRICS_KEY, "publish_failed|audio.length") or 0)
        assert failed == failed_before + 1
    finally:
        client.close()
        os.killpg(api.pid, signal.SIGTERM)
        api.wait(15)
    # The client's retry, with the same key, on an API that can publish: a new job, not a
    # replay of one that never was.
    accepted = stack.client.post("/v1/jobs", json=body, headers={"Idempotency-Key": key})
    assert accepted.status_code == 202, accepted.text
    assert job_keys(store) - jobs_before == {f"asyncml:job:{accepted.json()['id']}".encode()}


def test_a_job_past_its_retention_is_gone_and_counted_expired(
    deployment: tuple[Stack, redis.Redis], files: FileServer
) -> None:
    stack, store = deployment
    tag = f"expired-{uuid.uuid4().hex[:8]}"
    response = stack.submit("audio.length", {"url": f"{files.base_url}/short.wav?{tag}"})
    assert response.status_code == 202, response.text
    job_id = response.json()["id"]
    # The retention (ASYNCML_JOB_RETENTION_S, at least a minute) passes for this record:
    # its key's time to live runs out, as the store's EXPIRE makes it.
    assert store.pexpire(f"asyncml:job:{job_id}", 1)
    wait_for(lambda: stack.client.get(f"/v1/jobs/{job_id}").status_code == 404, 10, "the 404")
    assert stack.client.get(f"/task/{job_id}").status_code == 404

    def expired() -> int:
        outcomes = {o["task"]: o for o in stack.client.get("/v1/outcomes").json()}
        return int(outcomes.get("audio.length", {}).get("expired", 0))

    assert expired() == 0
    stack.start_worker()  # its message is still queued: the worker finds no record
    stack.wait_tasks()
    assert wait_for(expired, 30, "the expired job to be counted") == 1
    assert int(store.hget(METRICS_KEY, "expired|audio.length") or 0) == 1
    assert not any(tag in path for path in files.requests)  # never run


def test_an_api_with_a_small_pool_takes_a_crowd_of_submissions(
    deployment: tuple[Stack, redis.Redis], files: FileServer
) -> None:
    stack, _ = deployment
    tag = uuid.uuid4().hex[:8]

    def submit(n: int) -> httpx.Response:
        with httpx.Client(base_url=stack.url, timeout=60) as client:
            url = f"{files.base_url}/short.wav?crowd={tag}-{n}"
            return client.post("/v1/jobs", json={"task": "audio.length", "input": {"url": url}})

    with ThreadPoolExecutor(AT_ONCE) as pool:
        answers = list(pool.map(submit, range(CROWD)))
    statuses = [a.status_code for a in answers]
    assert statuses == [202] * CROWD, [a.text for a in answers if a.status_code != 202][:3]
    ids = [a.json()["id"] for a in answers]
    assert len(set(ids)) == CROWD
    done: list[dict[str, Any]] = [stack.wait_job(job_id, timeout=90) for job_id in ids]
    assert {job["status"] for job in done} == {"succeeded"}
    assert sum(f"crowd={tag}-" in path for path in files.requests) == CROWD
