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

import orjson
import pytest
import redis
from kombu import Queue

from asyncml.api.wire import redis_list
from asyncml.metrics.recording import METRICS_KEY
from asyncml.settings import Settings
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
