"""A job whose broker message is lost still runs, once (issue 6, "nothing accepted is lost").

The loss is made deterministic: jobs are accepted while no worker consumes their queue,
then their messages are deleted from the broker's list, which is exactly the state a worker
SIGKILLed between ``BRPOP`` and recording the message as unacknowledged leaves behind
(celery/celery#7950). A worker started afterwards must find them through its republisher
(``asyncml.worker.republish``) and run each of them exactly once.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import orjson
import pytest
import redis
from kombu import Connection, Queue

from asyncml.api.wire import redis_list
from asyncml.metrics.recording import METRICS_KEY
from asyncml.settings import Settings
from asyncml.store import JobStore
from asyncml.worker.app import create_celery
from asyncml.worker.republish import BrokerView
from tests.integration.conftest import layout_env, stop_stack
from tests.integration.fileserver import FileServer
from tests.integration.receiver import Receiver
from tests.integration.stack import Stack, wait_for
from tests.integration.test_failures import succeeded_events

pytestmark = pytest.mark.integration

AFTER_S = 2


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver().start()
    yield server
    server.stop()


def clients(env: dict[str, str]) -> tuple[redis.Redis, redis.Redis]:
    """(broker, store) Redis clients of a deployment."""
    settings = Settings(
        data_dir=Path(env["ASYNCML_DATA_DIR"]),
        broker_url=env["ASYNCML_BROKER_URL"] or None,
        store_url=env["ASYNCML_STORE_URL"] or None,
    )
    url = urlsplit(settings.effective_broker_url)
    if url.scheme == "redis+socket":  # embedded: kombu's spelling of a unix socket URL
        db = parse_qs(url.query).get("virtual_host", ["0"])[0] or "0"
        broker = redis.Redis(unix_socket_path=url.path, db=int(db))
    else:
        broker = redis.Redis.from_url(settings.effective_broker_url)
    return broker, redis.Redis.from_url(settings.effective_store_url)


def drop_messages(broker: redis.Redis, queue: str, job_ids: set[str]) -> int:
    """Delete the messages of ``job_ids`` from the queue's list, as a killed worker would."""
    dropped = 0
    for raw in broker.lrange(queue, 0, -1):
        if orjson.loads(raw)["headers"]["id"] in job_ids:
            dropped += int(broker.lrem(queue, 1, raw.decode()))
    return dropped


@pytest.mark.parametrize("layout", ["embedded", "redis"])
def test_a_job_whose_message_was_lost_runs_exactly_once(
    layout: str, files: FileServer, receiver: Receiver, tmp_path: Path
) -> None:
    env = layout_env(layout, files, tmp_path) | {"ASYNCML_REQUEUE_AFTER_S": str(AFTER_S)}
    stack = Stack(layout, env, tmp_path)
    stack.start_api()  # no worker yet: messages wait in the broker
    broker, store = clients(env)
    tag = uuid.uuid4().hex[:8]
    try:
        urls: dict[str, str] = {}

        def submit(name: str, webhook: str | None = None) -> str:
            url = f"{files.base_url}/short.wav?lost={tag}-{name}"
            body: dict[str, object] = {"task": "audio.length", "input": {"url": url}}
            if webhook:
                body["webhook"] = f"{receiver.url}{webhook}"
            response = stack.client.post("/v1/jobs", json=body)
            assert response.status_code == 202, response.text
            job_id: str = response.json()["id"]
            urls[job_id] = url
            return job_id

        hook = f"/lost-{tag}"
        hooked = submit("a", webhook=hook)
        lost = {hooked, submit("b"), submit("c")}
        kept = {submit("d"), submit("e")}
        waiting = redis_list("audio", 0)  # the list of jobs of the default priority
        assert broker.llen(waiting) == 5
        assert drop_messages(broker, waiting, lost) == 3
        assert broker.llen(waiting) == 2

        stack.start_worker(queues="audio,euro,webhooks")
        done = [stack.wait_job(job_id, timeout=40) for job_id in [*lost, *kept]]

        assert {job["status"] for job in done} == {"succeeded"}, done
        assert [job["attempts"] for job in done] == [1] * 5  # one execution each
        assert succeeded_events(store, [job["id"] for job in done]) == [1] * 5
        downloads = {
            j: sum(u.split("/", 3)[3] in p for p in files.requests) for j, u in urls.items()
        }
        assert downloads == dict.fromkeys(urls, 1), downloads
        log = (tmp_path / f"{layout}-worker-0.log").read_text()
        resent = {j for j in urls if f"job {j}: queued over" in log}
        assert resent == lost  # the kept jobs' messages were found, not sent again
        assert store.hget(METRICS_KEY, "republished|audio.length") == b"3"
        # One webhook, with one id, for the job that had one.
        posts = wait_for(lambda: receiver.at(hook), 20, "the lost job's webhook")
        assert [r.headers["webhook-id"] for r in posts] == [f"msg_{hooked}_completed"]
        print(
            f"\n[republish] {layout}: lost {len(lost)}, re-sent {len(resent)}, "
            f"kept {len(kept)}, executions {sum(downloads.values())}, webhook posts {len(posts)}"
        )
    finally:
        with contextlib.suppress(Exception):
            broker.close()
            store.close()
        stop_stack(stack, tmp_path)


@pytest.mark.parametrize("layout", ["rabbitmq", "redis"])
def test_a_started_job_whose_worker_and_message_are_gone_runs_again(
    layout: str, files: FileServer, tmp_path: Path
) -> None:
    """The state a RabbitMQ node that crashed before writing a running job's message leaves
    (issue 22): the job is ``started``, its worker is gone (the lease lapsed) and no message
    can run it. The republisher must send it again, counting the attempt; one that has used
    up its attempts ends ``failed``/``worker_lost``."""
    env = layout_env(layout, files, tmp_path) | {"ASYNCML_REQUEUE_AFTER_S": str(AFTER_S)}
    stack = Stack(layout, env, tmp_path)
    stack.start_api()  # no worker yet
    jobs = JobStore(env["ASYNCML_STORE_URL"], retention_s=3600)
    tag = uuid.uuid4().hex[:8]
    try:

        def submit(n: int) -> httpx.Response:
            url = f"{files.base_url}/short.wav?stranded={tag}-{n}"
            return stack.submit("audio.length", {"url": url})

        stranded, worn = stack.accept(submit, range(2))
        if layout == "rabbitmq":
            with Connection(env["ASYNCML_BROKER_URL"], connect_timeout=5) as conn:
                assert conn.default_channel.queue_purge("audio") == 2
        else:
            broker, _ = clients(env)
            assert broker.delete(redis_list("audio", 0)) == 1
            broker.close()
        # A worker took each message, started the job and died with it; no message is left.
        assert jobs.start(stranded, max_attempts=3, lease_s=0).run
        for _ in range(3):
            assert jobs.start(worn, max_attempts=3, lease_s=0).run

        stack.start_worker(queues="audio,euro,webhooks")
        again = stack.wait_job(stranded, timeout=40)
        assert (again["status"], again["attempts"]) == ("succeeded", 2), again
        given_up = stack.wait_job(worn, timeout=20)
        assert given_up["status"] == "failed" and given_up["error"]["code"] == "worker_lost"
        downloads = sum(f"stranded={tag}-" in path for path in files.requests)
        assert downloads == 1  # the worn-out job was not run a fourth time
        log = (tmp_path / f"{layout}-worker-0.log").read_text()
        assert f"job {stranded}: started, its lease lapsed" in log
    finally:
        jobs.close()
        stop_stack(stack, tmp_path)


def test_on_rabbitmq_only_an_empty_queue_counts_as_holding_nothing(
    files: FileServer, tmp_path: Path
) -> None:
    """RabbitMQ cannot be searched for a message: an explicitly enabled republisher sends a
    job again only while the queue has nothing ready (a backlog is never doubled)."""
    env = layout_env("rabbitmq", files, tmp_path)  # also makes this run's virtual host
    settings = Settings(broker_url=env["ASYNCML_BROKER_URL"], store_url=env["ASYNCML_STORE_URL"])
    celery = create_celery(settings)
    queue = f"republish-{uuid.uuid4().hex[:8]}"
    view = BrokerView(celery)
    try:
        assert view.missing(queue, ["j1"]) == set()  # no such queue: nothing to say
        with celery.connection_for_write() as conn:
            Queue(queue, auto_delete=False, channel=conn.default_channel).declare()
        assert view.missing(queue, ["j1", "j2"]) == {"j1", "j2"}  # declared, empty
        celery.send_task("asyncml.audio.length", args=("j1", {}), task_id="j1", queue=queue)
        wait_for(lambda: not view.missing(queue, ["j2"]), 5, "the message to be counted")
    finally:
        view.close()
        with celery.connection_for_write() as conn:
            conn.default_channel.queue_delete(queue)
        celery.close()
