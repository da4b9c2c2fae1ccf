"""Failure tests against real processes and real brokers (issue 6, "Hardening").

Workers SIGKILLed over and over during a run of many jobs, a job that kills its worker
every time, a duplicate delivery of a running job, and the broker + store killed and
restarted mid-run. Each test prints what it measured (a ``[failures]`` line, shown even
without ``-s``); with ``ASYNCML_FAILURES_OUT=path`` it also merges the figures into that JSON
file (``bench/results/failures.json`` is where docs/reliability.md quotes them from).
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from pydantic import ValidationError

from asyncml.events import event_log_key
from asyncml.metrics.recording import METRICS_KEY
from asyncml.plugins import discover
from asyncml.settings import Settings
from asyncml.store import job_key
from asyncml.worker.app import create_celery
from tests.conftest import STORE_DB
from tests.integration.conftest import REDIS_URL, base_env, layout_env
from tests.integration.fileserver import FileServer, HoldServer
from tests.integration.receiver import Receiver
from tests.integration.stack import Stack, free_port, socket_owner, wait_for

pytestmark = pytest.mark.integration

_results_lock = threading.Lock()

# Short limits so that a killed worker's job comes back within seconds (the lease lapses
# after 2 s, a Redis broker restores an unacknowledged message after 5 s), and a webhook
# attempt whose worker was killed mid-send is taken as lost after 2 + 30 s, not 15 + 30 s.
FAST = {
    "ASYNCML_TASK_SOFT_TIME_LIMIT_S": "3",
    "ASYNCML_TASK_TIME_LIMIT_S": "4",
    "ASYNCML_VISIBILITY_TIMEOUT_S": "5",
    "ASYNCML_FETCH_TIMEOUT_S": "2",
    "ASYNCML_LEASE_S": "2",
    "ASYNCML_WEBHOOK_RETRY_SCHEDULE_S": "0,0.5,0.5,0.5,0.5,0.5,0.5,0.5,0.5,0.5",
    "ASYNCML_WEBHOOK_TIMEOUT_S": "2",
}
TERMINAL = {"succeeded", "failed", "canceled"}
Record = Callable[[str, dict[str, Any]], None]


@pytest.fixture
def record(capsys: pytest.CaptureFixture[str]) -> Record:
    """Print a test's figures to the terminal (capture or not) and, when
    ASYNCML_FAILURES_OUT names a file, merge them into it."""

    def write(name: str, figures: dict[str, Any]) -> None:
        with capsys.disabled():
            print(f"\n[failures] {name}: {json.dumps(figures, sort_keys=True)}")
        out = os.environ.get("ASYNCML_FAILURES_OUT")
        if not out:
            return
        path = Path(out)
        with _results_lock:
            path.parent.mkdir(parents=True, exist_ok=True)
            try:
                data = json.loads(path.read_text())
            except (OSError, ValueError):
                data = {}
            data[name] = figures
            path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")

    return write


def statuses(store: redis.Redis, ids: list[str]) -> list[str]:
    with store.pipeline(transaction=False) as pipe:
        for job_id in ids:
            pipe.hget(job_key(job_id), "status")
        return [(s or b"").decode() for s in pipe.execute()]


def finished(store: redis.Redis, ids: list[str]) -> int:
    return sum(s in TERMINAL for s in statuses(store, ids))


def succeeded_events(store: redis.Redis, ids: list[str]) -> list[int]:
    """How many times each job's event log says it succeeded (a result shown once: 1)."""
    with store.pipeline(transaction=False) as pipe:
        for job_id in ids:
            pipe.xrange(event_log_key(job_id))
        logs = pipe.execute()
    return [sum(fields[b"status"] == b"succeeded" for _, fields in log) for log in logs]


# ---- workers SIGKILLed again and again during a run of many jobs ---------------------------


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    server = Receiver().start()
    yield server
    server.stop()


@pytest.mark.parametrize("layout", ["redis", "rabbitmq"])
def test_workers_killed_repeatedly_lose_nothing(
    layout: str, files: FileServer, receiver: Receiver, tmp_path: Path, record: Record
) -> None:
    jobs, kills_wanted, hooked_every = 2000, 15, 10
    env = (
        layout_env(layout, files, tmp_path)
        | FAST
        | {
            "ASYNCML_MAX_ATTEMPTS": "20",  # only a pathological job should run out here
            "ASYNCML_LOG_LEVEL": "WARNING",
            # The default: a download that times out (the test's file server, starved of
            # CPU by the kills on two busy cores) is tried again, not a lost job.
            "ASYNCML_RETRY_TRANSIENT": "true",
        }
    )
    if layout == "redis":
        # kombu's Redis transport drops a message whose worker is SIGKILLed between BRPOP and
        # recording it as unacknowledged (celery/celery#7950): the republisher sends such a
        # job again once it has waited this long with no message left for it. RabbitMQ runs
        # with the default (360 s, never reached here): it requeues a dead consumer's
        # messages itself.
        env["ASYNCML_REQUEUE_AFTER_S"] = "2"
    stack = Stack(layout, env, tmp_path)
    queues = "audio,euro,webhooks"
    stack.start_worker(queues=queues)
    stack.start_api()
    store = redis.Redis.from_url(f"{REDIS_URL}/{STORE_DB}")
    tag = uuid.uuid4().hex[:8]
    started = time.monotonic()
    try:
        hooked: dict[str, str] = {}
        ids: list[str] = []  # in the order the API accepted them
        answers_5xx: list[int] = []

        def submit(i: int) -> None:
            body: dict[str, Any] = {
                "task": "audio.length",
                "input": {"url": f"{files.base_url}/short.wav?chaos={tag}-{i}"},
            }
            if i % hooked_every == 0:
                body["webhook"] = f"{receiver.url}/chaos-{tag}-{i}"
            response = stack.client.post("/v1/jobs", json=body)
            if response.status_code >= 500:
                answers_5xx.append(response.status_code)
            assert response.status_code == 202, response.text
            job_id: str = response.json()["id"]
            if i % hooked_every == 0:
                hooked[job_id] = f"/chaos-{tag}-{i}"
            ids.append(job_id)

        def done_count() -> int:
            return finished(store, list(ids))

        kills = 0
        rng = random.Random(6)
        with ThreadPoolExecutor(4) as pool:
            submitting = [pool.submit(submit, i) for i in range(jobs)]
            while kills < kills_wanted:
                # Let the fresh worker get going, then kill it mid-stream (~1-3 s of work).
                before, step = done_count(), rng.randint(40, 100)
                try:
                    wait_for(
                        lambda b=before, s=step: (n := done_count()) >= b + s or n == jobs,
                        45,
                        "the worker to make progress",
                        every=0.1,
                    )
                except AssertionError as exc:
                    seen = statuses(store, list(ids))
                    counts = {status: seen.count(status) for status in set(seen)}
                    raise AssertionError(f"{exc} after {kills} kills: {counts}") from None
                if done_count() == jobs:
                    break
                stack.kill_workers()  # SIGKILL the whole process group
                kills += 1
                stack.start_worker(queues=queues)
            for future in submitting:
                future.result()
        assert len(ids) == jobs
        with contextlib.suppress(AssertionError):  # the figures below say what is missing
            wait_for(lambda: finished(store, ids) == jobs, 120, "every job to finish", every=0.2)
        jobs_done_s = time.monotonic() - started
        bodies = [stack.client.get(f"/v1/jobs/{job_id}").json() for job_id in ids]
        by_status: dict[str, int] = {}
        for job in bodies:
            by_status[job["status"]] = by_status.get(job["status"], 0) + 1
        shown = succeeded_events(store, ids)
        reexecuted = [job["attempts"] - 1 for job in bodies if job["attempts"] > 1]
        downloads = sum(f"chaos={tag}-" in path for path in files.requests)
        # One webhook id per job and event at the receiver, retries and redeliveries included.
        # A delivery claimed by the sweeper of a worker killed before it sent the message goes
        # out when that claim lapses (60 s, or ASYNCML_REQUEUE_AFTER_S when shorter: see
        # worker/sweeper.py), so allow one lapse.
        with contextlib.suppress(AssertionError):
            done = {job["id"] for job in bodies if job["status"] == "succeeded"}
            wait_for(
                lambda: all(receiver.at(p) for j, p in hooked.items() if j in done),
                75,
                "a webhook for every finished job",
            )
        hook_ids = {
            job_id: {r.headers["webhook-id"] for r in receiver.at(path)}
            for job_id, path in hooked.items()
        }
        republished = int(store.hget(METRICS_KEY, "republished|audio.length") or 0)
        figures = {
            "jobs": jobs,
            "kills": kills,
            "lost": jobs - by_status.get("succeeded", 0),
            "statuses": by_status,
            "jobs_republished": republished,
            "jobs_reexecuted": len(reexecuted),
            "reexecutions": sum(reexecuted),
            "max_attempts_seen": max(job["attempts"] for job in bodies),
            "downloads": downloads,
            "results_recorded_twice": sum(n > 1 for n in shown),
            "webhook_jobs": len(hooked),
            "webhook_jobs_not_delivered_in_75s": sum(not v for v in hook_ids.values()),
            "webhook_posts": sum(len(receiver.at(path)) for path in hooked.values()),
            "duplicate_webhook_ids": sum(max(0, len(v) - 1) for v in hook_ids.values()),
            "answers_5xx": len(answers_5xx),
            "seconds_until_every_job_ended": round(jobs_done_s, 1),
            "seconds": round(time.monotonic() - started, 1),
        }
        record(f"worker_kills_{layout}", figures)
        assert kills >= 3, f"only {kills} kills: the run was too short to mean anything"
        assert all(n <= 1 for n in shown)  # no result recorded twice
        assert all(len(v) <= 1 for v in hook_ids.values())  # no second webhook id
        assert by_status == {"succeeded": jobs}, by_status  # nothing lost, on either broker
        assert hook_ids == {job_id: {f"msg_{job_id}_completed"} for job_id in hooked}
        assert not answers_5xx
    finally:
        stack.stop()
        store.close()


# ---- a job that kills its worker every time ------------------------------------------------


def test_job_that_kills_its_worker_ends_worker_lost(
    files: FileServer, tmp_path: Path, record: Record
) -> None:
    # Time limits well above the few seconds a kill may take on a loaded machine: the job
    # must end by losing its worker, never by its own timeout.
    env = (
        layout_env("rabbitmq", files, tmp_path)
        | FAST
        | {
            "ASYNCML_MAX_ATTEMPTS": "3",
            "ASYNCML_TASK_SOFT_TIME_LIMIT_S": "20",
            "ASYNCML_TASK_TIME_LIMIT_S": "25",
            "ASYNCML_VISIBILITY_TIMEOUT_S": "30",
            "ASYNCML_FETCH_TIMEOUT_S": "20",
        }
    )
    stack = Stack("rabbitmq", env, tmp_path)
    worker = stack.start_worker(queues="audio", concurrency=1)
    stack.start_api()
    hold = HoldServer()
    started = time.monotonic()
    try:
        job = stack.submit("audio.length", {"url": f"{hold.url}/poison.wav"}).json()
        killed = 0
        for attempt in range(1, 4):
            # Each time the job reaches its download, SIGKILL the pool process running it:
            # the one holding the connection to the server.
            wait_for(lambda a=attempt: len(hold.clients) >= a, 30, f"attempt {attempt}")
            port = hold.clients[attempt - 1]
            child = wait_for(lambda p=port: socket_owner(p), 10, "the pool process")
            assert child != worker.pid
            os.kill(child, signal.SIGKILL)
            killed += 1
        done = stack.wait_job(job["id"], timeout=30)
        assert done["status"] == "failed", done
        assert done["error"]["code"] == "worker_lost"
        assert len(hold.hits) == 3  # not run a fourth time
        assert worker.poll() is None  # the worker itself lived on
        after = stack.submit("audio.length", {"url": f"{files.base_url}/short.wav"}).json()
        assert stack.wait_job(after["id"])["status"] == "succeeded"
        record(
            "poison_job",
            {
                "max_attempts": 3,
                "pool_processes_killed": killed,
                "executions": len(hold.hits),
                "final_status": done["status"],
                "error_code": done["error"]["code"],
                "seconds": round(time.monotonic() - started, 1),
            },
        )
    finally:
        hold.stop()
        stack.stop()


# ---- a task longer than the visibility timeout / a duplicate delivery ----------------------


def test_hard_limit_beyond_visibility_timeout_is_refused() -> None:
    with pytest.raises(ValidationError, match="must be below ASYNCML_VISIBILITY_TIMEOUT_S"):
        Settings(
            broker_url="redis://127.0.0.1:6379/1",
            store_url="redis://127.0.0.1:6379/0",
            task_soft_time_limit_s=8,
            task_time_limit_s=10,
            visibility_timeout_s=3,
        )


def test_duplicate_delivery_of_a_running_job_waits_for_its_lease(
    files: FileServer, tmp_path: Path, record: Record
) -> None:
    """A second copy of a running job's message (what a Redis broker sends once the
    visibility timeout passes) finds the lease fresh and does not run alongside."""
    # The task (4 s) outlives its 2 s lease: only renewals keep the duplicate out.
    env = (
        layout_env("redis", files, tmp_path)
        | FAST
        | {
            "ASYNCML_TASK_SOFT_TIME_LIMIT_S": "8",
            "ASYNCML_TASK_TIME_LIMIT_S": "9",
            "ASYNCML_VISIBILITY_TIMEOUT_S": "10",
            "ASYNCML_FETCH_TIMEOUT_S": "8",
        }
    )
    stack = Stack("redis", env, tmp_path)
    stack.start_worker(queues="audio", concurrency=2)
    stack.start_api()
    tag = uuid.uuid4().hex[:8]
    url = f"{files.base_url}/slow/4/short.wav?dup={tag}"
    settings = Settings(broker_url=env["ASYNCML_BROKER_URL"], store_url=env["ASYNCML_STORE_URL"])
    celery = create_celery(settings)
    started = time.monotonic()
    try:
        job = stack.submit("audio.length", {"url": url}).json()
        stack.wait_status(job["id"], "started")
        spec = next(t for t in discover() if t.name == "audio.length")
        payload = {"url": url}
        celery.send_task(
            spec.celery_name, args=(job["id"], payload), task_id=job["id"], queue=spec.queue
        )
        log = tmp_path / "redis-worker-0.log"
        wait_for(
            lambda: f"job {job['id']}: held by another worker" in log.read_text(),
            10,
            "the duplicate to be held back",
        )
        done = stack.wait_job(job["id"], timeout=30)
        assert done["status"] == "succeeded" and done["attempts"] == 1, done
        runs = sum(f"dup={tag}" in path for path in files.requests)
        assert runs == 1  # downloaded once: the duplicate never ran
        record(
            "duplicate_delivery",
            {
                "task_seconds": 4,
                "lease_s": 2,
                "deliveries": 2,
                "executions": runs,
                "attempts": done["attempts"],
                "seconds": round(time.monotonic() - started, 1),
            },
        )
    finally:
        celery.close()
        stack.stop()


# ---- broker and store killed and restarted mid-run ----------------------------------------


class PrivateRedis:
    def __init__(self, data: Path) -> None:
        self.port = free_port()
        self.data = data
        self.proc: subprocess.Popen[bytes] | None = None
        data.mkdir(parents=True, exist_ok=True)

    def start(self) -> None:
        args = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1"]
        args += ["--save", "", "--appendonly", "yes", "--dir", str(self.data)]
        log = open(self.data / "redis.log", "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        client = redis.Redis(port=self.port, socket_timeout=1)
        wait_for(lambda: self._ping(client), 10, "the private redis-server")
        client.close()

    @staticmethod
    def _ping(client: redis.Redis) -> bool:
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait()


def test_broker_and_store_restart_mid_run(
    files: FileServer, tmp_path: Path, record: Record
) -> None:
    server = PrivateRedis(tmp_path / "redis")
    server.start()
    url = f"redis://127.0.0.1:{server.port}"
    env = (
        base_env(files)
        | FAST
        | {
            "ASYNCML_DATA_DIR": str(tmp_path / "data"),
            "ASYNCML_BROKER_URL": f"{url}/1",
            "ASYNCML_STORE_URL": f"{url}/0",
        }
    )
    stack = Stack("private", env, tmp_path)
    stack.start_worker(concurrency=2)
    stack.start_api()
    tag = uuid.uuid4().hex[:8]
    started = time.monotonic()

    def submit(i: int) -> httpx.Response:
        return stack.submit(
            "audio.length", {"url": f"{files.base_url}/slow/0.3/short.wav?restart={tag}-{i}"}
        )

    try:
        accepted = stack.accept(submit, range(20))
        stack.wait_status(accepted[0], "started")
        server.kill()
        # While it is down, every answer is a quick 503 (never a 500, never a hang).
        answers = stack.probe(submit, accepted)
        codes = sorted({a.status for a in answers})
        slowest = max(a.seconds for a in answers)
        assert codes == [503], codes
        assert slowest < 8, slowest
        server.start()  # same port, same append-only file
        wait_for(lambda: stack.client.get("/readyz").status_code == 200, 30, "readiness")
        for i in range(20, 30):
            response = submit(i)
            assert response.status_code == 202, response.text
            accepted.append(response.json()["id"])
        # A client honours 503 + Retry-After: count such answers after the restart.
        late_503: list[str] = []

        def ended(job_id: str) -> dict[str, Any] | None:
            response = stack.client.get(f"/v1/jobs/{job_id}", params={"wait": 5}, timeout=15)
            if response.status_code == 503:
                late_503.append(response.json()["error"]["message"])
                return None
            assert response.status_code == 200, response.text
            job: dict[str, Any] = response.json()
            return job if job["status"] in TERMINAL else None

        done = [wait_for(lambda j=j: ended(j), 60, f"job {j}", every=0.2) for j in accepted]
        outcome = {job["status"] for job in done}
        assert outcome == {"succeeded"}, [(j["id"], j["status"], j["error"]) for j in done]
        record(
            "broker_store_restart",
            {
                "accepted": len(accepted),
                "completed": sum(job["status"] == "succeeded" for job in done),
                "lost": len(accepted) - len(done),
                "requests_while_down": len(answers),
                "answers_while_down": {str(c): sum(a.status == c for a in answers) for c in codes},
                "answers_5xx_other_than_503": sum(
                    a.status >= 500 and a.status != 503 for a in answers
                ),
                "slowest_answer_while_down_s": round(slowest, 2),
                "reexecuted": sum(job["attempts"] > 1 for job in done),
                "answers_503_after_restart": len(late_503),
                "messages_503_after_restart": sorted(set(late_503)),
                "seconds": round(time.monotonic() - started, 1),
            },
        )
    finally:
        stack.stop()
        if server.proc is not None and server.proc.poll() is None:
            server.proc.terminate()
            server.proc.wait(10)
