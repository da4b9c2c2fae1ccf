"""Signed webhooks delivered by a real ``asyncml worker --queues webhooks`` to a real
receiver on 127.0.0.1, checked with the reference ``standardwebhooks`` package."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from asyncml.webhooks import generate_secret, verify
from tests.integration.conftest import layout_env, start_stack, stop_stack
from tests.integration.fileserver import FileServer, HoldServer
from tests.integration.receiver import Answer, Receiver
from tests.integration.stack import Stack, free_port, wait_for
from tests.prometheus import delta, parse

pytestmark = pytest.mark.integration

# Two secrets in force, as during a rotation: every delivery carries both signatures.
OLD_SECRET, NEW_SECRET = generate_secret(), generate_secret()
SCHEDULE = "0,0.4,0.4,0.4,0.4,0.4,0.4,0.4,0.4,0.4"


@pytest.fixture(scope="module", params=["embedded", "redis", "rabbitmq"])
def hooks(
    request: pytest.FixtureRequest, files: FileServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp(f"webhooks-{request.param}")
    env = layout_env(request.param, files, tmp) | {
        "ASYNCML_WEBHOOK_SECRET": f"{OLD_SECRET}, {NEW_SECRET}",
        "ASYNCML_WEBHOOK_RETRY_SCHEDULE_S": SCHEDULE,
        "ASYNCML_WEBHOOK_TIMEOUT_S": "3",
        "ASYNCML_SSE_HEARTBEAT_S": "0.3",
    }
    stack = Stack(request.param, env, tmp)  # stop_stack knows the layout by this name
    stack.start_worker()
    stack.start_worker(queues="webhooks")
    stack.start_api()
    yield stack
    stop_stack(stack, tmp)


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    server = Receiver().start()
    yield server
    server.stop()


def submit(stack: Stack, url: str, webhook: str, **extra: Any) -> dict[str, Any]:
    body = {"task": "audio.length", "input": {"url": url}, "webhook": webhook, **extra}
    response = stack.client.post("/v1/jobs", json=body)
    assert response.status_code == 202, response.text
    job: dict[str, Any] = response.json()
    return job


def settled(stack: Stack, job_id: str, status: str = "succeeded") -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        job: dict[str, Any] = stack.client.get(f"/v1/jobs/{job_id}").json()
        return job if job["webhook_status"] == status else None

    job: dict[str, Any] = wait_for(done, 20, f"webhook of {job_id} to be {status}")
    return job


def check_signed(delivery: Any) -> dict[str, Any]:
    """Both secrets verify it, with the reference package and with asyncml's helper."""
    for secret in (OLD_SECRET, NEW_SECRET):
        Webhook(secret).verify(delivery.body, delivery.headers)
    assert len(delivery.headers["webhook-signature"].split(" ")) == 2
    payload: dict[str, Any] = verify(delivery.body, delivery.headers, [NEW_SECRET])
    return payload


def test_delivery_survives_a_receiver_that_is_down(
    hooks: Stack, files: FileServer, corpus: dict[str, float]
) -> None:
    port = free_port()  # nothing listens yet: connections are refused
    job = submit(hooks, f"{files.base_url}/short.wav", f"http://127.0.0.1:{port}/hook")
    assert job["webhook_status"] == "pending"

    def refused_once() -> list[dict[str, Any]]:
        log = hooks.client.get(f"/v1/jobs/{job['id']}").json()["deliveries"] or []
        return [d for d in log if d["outcome"] == "retrying"]

    first = wait_for(refused_once, 20, "a refused attempt")[0]
    assert first["status_code"] is None and first["error"]
    assert first["next_attempt_at"]
    # The receiver comes up, but is overloaded at first.
    receiver = Receiver(port)
    receiver.on("/hook", Answer(503, body=b"busy"), Answer(500))
    receiver.start()
    try:
        done = settled(hooks, job["id"])
        got = receiver.wait("/hook", 3)
    finally:
        receiver.stop()
    assert len(got) == 3
    assert {r.headers["webhook-id"] for r in got} == {f"msg_{job['id']}_completed"}
    assert len({r.body for r in got}) == 1  # every retry sends the same bytes
    payload = check_signed(got[-1])
    assert payload["type"] == "job.completed"
    assert payload["data"]["id"] == job["id"] and payload["data"]["status"] == "succeeded"
    assert payload["data"]["result"]["audio_length"] == pytest.approx(corpus["short.wav"])
    log = done["deliveries"]
    assert [d["outcome"] for d in log][-3:] == ["retrying", "retrying", "succeeded"]
    assert [d["status_code"] for d in log][-3:] == [503, 500, 200]
    assert [d["attempt"] for d in log] == list(range(1, len(log) + 1))
    assert "HTTP 503: busy" in log[-3]["error"]


def test_started_and_completed_have_one_id_each(
    hooks: Stack, files: FileServer, receiver: Receiver
) -> None:
    path = f"/both-{uuid.uuid4().hex}"
    receiver.on(path, Answer(503))  # the first event is retried once
    job = submit(
        hooks,
        f"{files.base_url}/short.wav",
        receiver.url + path,
        webhook_events=["started", "completed"],
    )
    settled(hooks, job["id"])
    wait_for(lambda: len({r.headers["webhook-id"] for r in receiver.at(path)}) == 2, 20, "both")
    ids: dict[str, set[str]] = {}
    for delivery in receiver.at(path):
        payload = check_signed(delivery)
        ids.setdefault(payload["type"], set()).add(delivery.headers["webhook-id"])
    assert ids == {
        "job.started": {f"msg_{job['id']}_started"},
        "job.completed": {f"msg_{job['id']}_completed"},
    }
    started = [
        json.loads(r.body) for r in receiver.at(path) if "started" in r.headers["webhook-id"]
    ]
    assert started[0]["data"]["status"] == "started" and started[0]["data"]["result"] is None


def test_gone_stops_and_redirects_are_not_followed(
    hooks: Stack, files: FileServer, receiver: Receiver
) -> None:
    tag = uuid.uuid4().hex
    receiver.on(f"/gone-{tag}", Answer(410))
    receiver.on(f"/moved-{tag}", Answer(302, {"Location": f"{receiver.url}/elsewhere-{tag}"}))
    gone = submit(hooks, f"{files.base_url}/short.wav", f"{receiver.url}/gone-{tag}")
    moved = submit(hooks, f"{files.base_url}/short.wav", f"{receiver.url}/moved-{tag}")
    done = settled(hooks, gone["id"], "failed")
    assert len(done["deliveries"]) == 1 and done["deliveries"][0]["status_code"] == 410
    assert "410" in done["deliveries"][0]["error"]
    receiver.wait(f"/moved-{tag}", 2)  # the redirect counts as a failure and is retried
    log = hooks.client.get(f"/v1/jobs/{moved['id']}").json()["deliveries"]
    assert log[0]["status_code"] == 302 and "not followed" in log[0]["error"]
    assert receiver.at(f"/elsewhere-{tag}") == []
    assert len(receiver.at(f"/gone-{tag}")) == 1


def test_retries_running_out_end_the_webhook_failed(
    hooks: Stack, files: FileServer, receiver: Receiver
) -> None:
    attempts = len(SCHEDULE.split(","))
    path = f"/down-{uuid.uuid4().hex}"
    receiver.on(path, *[Answer(500, body=b"down")] * attempts, Answer(200))  # too late
    before = parse(hooks.client.get("/metrics").text)
    job = submit(hooks, f"{files.base_url}/short.wav", receiver.url + path)
    done = settled(hooks, job["id"], "failed")
    assert done["status"] == "succeeded"  # the job itself is not touched
    log = done["deliveries"]
    assert [d["attempt"] for d in log] == list(range(1, attempts + 1))
    assert [d["outcome"] for d in log] == ["retrying"] * (attempts - 1) + ["failed"]
    assert {d["status_code"] for d in log} == {500}
    got = receiver.at(path)
    assert len(got) == attempts  # and no attempt after the last
    assert {r.headers["webhook-id"] for r in got} == {f"msg_{job['id']}_completed"}
    after = parse(hooks.client.get("/metrics").text)
    assert delta(before, after, "asyncml_webhook_deliveries_abandoned_total") == 1
    assert delta(before, after, "asyncml_webhook_delivery_failures_total", reason="http_5xx") == (
        attempts
    )


def test_retry_after_is_honoured(hooks: Stack, files: FileServer, receiver: Receiver) -> None:
    path = f"/slow-down-{uuid.uuid4().hex}"
    receiver.on(path, Answer(429, {"Retry-After": "1"}))
    job = submit(hooks, f"{files.base_url}/short.wav", receiver.url + path)
    settled(hooks, job["id"])
    first, second = receiver.at(path)
    assert second.at - first.at >= 0.95  # the schedule alone would retry after 0.4-0.44 s


def test_original_contract_callback_url(
    hooks: Stack, files: FileServer, receiver: Receiver, corpus: dict[str, float]
) -> None:
    path = f"/legacy-{uuid.uuid4().hex}"
    response = hooks.client.post(
        "/audio/length",
        json={"audio_url": f"{files.base_url}/short.wav", "callback_url": receiver.url + path},
    )
    assert response.status_code == 201 and set(response.json()) == {"id"}
    (delivery,) = receiver.wait(path, 1)
    body = check_signed(delivery)
    assert set(body) == {"id", "status", "error", "result"}
    assert body["id"] == response.json()["id"] and body["status"] == "SUCCESS"
    assert body == hooks.client.get(f"/task/{body['id']}").json()
    assert body["result"]["audio_length"] == pytest.approx(corpus["short.wav"])


def test_redeliver(hooks: Stack, files: FileServer, receiver: Receiver) -> None:
    path = f"/again-{uuid.uuid4().hex}"
    job = submit(hooks, f"{files.base_url}/short.wav", receiver.url + path)
    settled(hooks, job["id"])
    response = hooks.client.post(f"/v1/jobs/{job['id']}/webhook/redeliver")
    assert response.status_code == 202, response.text
    first, again = receiver.wait(path, 2)
    assert first.headers["webhook-id"] == again.headers["webhook-id"]
    assert first.body == again.body
    done = settled(hooks, job["id"])
    assert [d["attempt"] for d in done["deliveries"]] == [1, 2]
    plain = hooks.submit("audio.length", {"url": f"{files.base_url}/short.wav"}).json()
    hooks.wait_job(plain["id"])
    no_hook = hooks.client.post(f"/v1/jobs/{plain['id']}/webhook/redeliver")
    assert no_hook.status_code == 409 and "no webhook" in no_hook.json()["error"]["message"]
    running = submit(hooks, f"{files.base_url}/slow/2/short.wav", receiver.url + path)
    early = hooks.client.post(f"/v1/jobs/{running['id']}/webhook/redeliver")
    assert early.status_code == 409 and "finished" in early.json()["error"]["message"]
    unknown = hooks.client.post(f"/v1/jobs/{uuid.uuid4()}/webhook/redeliver")
    assert unknown.status_code == 404
    assert hooks.client.post(f"/v1/jobs/{running['id']}/cancel").status_code == 200


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"webhook": "http://10.1.2.3/hook"}, "destination not allowed"),
        ({"webhook": "ftp://example.com/hook"}, "webhook"),
        ({"webhook": "http://u:p@example.com/hook"}, "credentials"),
        ({"webhook_events": ["completed"]}, "webhook_events is set but webhook"),
        ({"webhook": "http://example.com/h", "webhook_events": ["done"]}, "webhook_events"),
        ({"webhook": "http://example.com/h", "webhook_events": []}, "webhook_events"),
    ],
)
def test_bad_webhooks_are_422(hooks: Stack, extra: dict[str, Any], message: str) -> None:
    body = {"task": "audio.length", "input": {"url": "http://example.com/a.wav"}, **extra}
    response = hooks.client.post("/v1/jobs", json=body)
    assert response.status_code == 422, response.text
    assert message in response.json()["error"]["message"]


# ---- Server-Sent Events and long-poll -------------------------------------------------------


def read_events(
    stack: Stack, job_id: str, *, last_id: str | None = None, stop_at: str | None = None
) -> tuple[list[tuple[str, str, dict[str, Any]]], int, int]:
    """(id, event, job) triples of one connection, the number of keep-alive comments, and
    the status code; ``stop_at`` hangs up after that event, as a dropped client would."""
    headers = {"Last-Event-ID": last_id} if last_id else {}
    events: list[tuple[str, str, dict[str, Any]]] = []
    comments = 0
    with stack.client.stream(
        "GET", f"/v1/jobs/{job_id}/events", headers=headers, timeout=httpx.Timeout(20)
    ) as response:
        if response.status_code != 200:
            return events, comments, response.status_code
        assert response.headers["content-type"].startswith("text/event-stream")
        fields: dict[str, str] = {}
        for line in response.iter_lines():
            if line.startswith(":"):
                comments += 1
            elif line:
                name, _, value = line.partition(": ")
                fields[name] = value
            elif "event" in fields:
                events.append((fields["id"], fields["event"], json.loads(fields["data"])))
                if fields["event"] == stop_at:
                    break
                fields = {}
            else:
                fields = {}
        return events, comments, response.status_code


def test_events_stream_until_the_end(hooks: Stack, files: FileServer) -> None:
    job = hooks.submit("audio.length", {"url": f"{files.base_url}/slow/1/short.wav"}).json()
    events, comments, status = read_events(hooks, job["id"])
    assert status == 200
    assert [e[1] for e in events] == ["queued", "started", "succeeded"]
    assert [e[2]["status"] for e in events] == ["queued", "started", "succeeded"]
    assert events[1][2]["result"] is None and events[2][2]["result"]["audio_length"] > 0
    assert comments >= 1  # keep-alives while the job ran (heartbeat 0.3 s here)


def test_events_resume_after_a_dropped_connection(hooks: Stack, files: FileServer) -> None:
    job = hooks.submit("audio.length", {"url": f"{files.base_url}/slow/2/short.wav"}).json()
    head, _, _ = read_events(hooks, job["id"], stop_at="started")
    assert [e[1] for e in head] == ["queued", "started"]
    assert hooks.client.get(f"/v1/jobs/{job['id']}").json()["status"] == "started"
    tail, _, _ = read_events(hooks, job["id"], last_id=head[-1][0])
    assert [e[1] for e in tail] == ["succeeded"]
    ids = [e[0] for e in head + tail]
    assert len(set(ids)) == 3 and ids == sorted(ids, key=lambda i: tuple(map(int, i.split("-"))))
    # Once everything has been seen, a reconnect is told to stop (204), not replayed.
    _, _, status = read_events(hooks, job["id"], last_id=tail[-1][0])
    assert status == 204
    replay, _, _ = read_events(hooks, job["id"], last_id=head[0][0])
    assert [e[1] for e in replay] == ["started", "succeeded"]


def test_events_errors(hooks: Stack) -> None:
    assert hooks.client.get(f"/v1/jobs/{uuid.uuid4()}/events").status_code == 404
    job = hooks.submit("audio.length", {"url": "http://127.0.0.1:9/a.wav"}).json()
    bad = hooks.client.get(f"/v1/jobs/{job['id']}/events", headers={"Last-Event-ID": "x"})
    assert bad.status_code == 400
    assert "Last-Event-ID" in bad.json()["error"]["message"]


@pytest.mark.parametrize(
    "last_id",
    [
        "99999999999999999999-1",  # the pattern's 20 digits, past 2**64
        "1-18446744073709551616",
        "18446744073709551615-18446744073709551615",  # nothing can come after it
    ],
)
def test_events_refuse_an_id_beyond_the_stream(
    hooks: Stack, files: FileServer, last_id: str
) -> None:
    finished = hooks.submit("audio.length", {"url": "http://127.0.0.1:9/a.wav"}).json()
    assert hooks.wait_job(finished["id"])["status"] == "failed"
    running = hooks.submit("audio.length", {"url": f"{files.base_url}/slow/2/short.wav"})
    for job_id in (finished["id"], running.json()["id"]):
        bad = hooks.client.get(f"/v1/jobs/{job_id}/events", headers={"Last-Event-ID": last_id})
        assert bad.status_code == 400, bad.text
        assert "Last-Event-ID" in bad.json()["error"]["message"]
    # The largest id that can have a successor is still a resume point (nothing after it).
    top = "18446744073709551615-18446744073709551614"
    done = hooks.client.get(f"/v1/jobs/{finished['id']}/events", headers={"Last-Event-ID": top})
    assert done.status_code == 204


def test_long_poll_answers_when_the_job_ends(hooks: Stack, files: FileServer) -> None:
    job = hooks.submit("audio.length", {"url": f"{files.base_url}/slow/1/short.wav"}).json()
    started = time.monotonic()
    response = hooks.client.get(f"/v1/jobs/{job['id']}", params={"wait": 20})
    elapsed = time.monotonic() - started
    assert response.json()["status"] == "succeeded"
    assert 0.9 < elapsed < 15  # woken by the store's notification, not the 20 s wait
    running = hooks.submit("audio.length", {"url": f"{files.base_url}/slow/3/short.wav"}).json()
    hooks.wait_status(running["id"], "started")
    with httpx.Client(base_url=hooks.url, timeout=30) as other, ThreadPoolExecutor(1) as pool:
        waiting = pool.submit(other.get, f"/v1/jobs/{running['id']}", params={"wait": 20})
        started = time.monotonic()
        assert hooks.client.post(f"/v1/jobs/{running['id']}/cancel").status_code == 200
        waited = waiting.result(timeout=10).json()
    assert waited["status"] == "canceled" and time.monotonic() - started < 3


def test_each_api_key_has_its_own_signing_secret(
    files: FileServer, receiver: Receiver, tmp_path: Path
) -> None:
    keys = {"alice": "alice-key-0123456789", "bob": "bob-key-0123456789ab"}
    spec = ",".join(f"{name}:{key}" for name, key in keys.items())
    # No ASYNCML_WEBHOOK_SECRET: the API on loopback hands each key its secret. Embedded:
    # its own store, which the module's other stacks' webhooks workers do not read.
    env = {"ASYNCML_API_KEYS": spec}
    stack = start_stack("embedded", files, tmp_path, workers=0, env=env)
    stack.start_worker("audio", 1)
    stack.start_worker("webhooks", 1)
    try:
        secrets, deliveries = {}, {}
        for name, key in keys.items():
            auth = {"Authorization": f"Bearer {key}"}
            answer = stack.client.get("/v1/webhooks/secret", headers=auth)
            assert answer.status_code == 200, answer.text
            secrets[name] = answer.json()["secret"]
            hook = f"{receiver.url}/tenant/{name}/{uuid.uuid4()}"
            body = {"task": "audio.length", "input": {"url": f"{files.base_url}/short.wav"}}
            response = stack.client.post("/v1/jobs", json=body | {"webhook": hook}, headers=auth)
            assert response.status_code == 202, response.text
            (deliveries[name],) = receiver.wait(hook.removeprefix(receiver.url), 1)
        assert secrets["alice"] != secrets["bob"]
        for name, delivery in deliveries.items():
            other = "bob" if name == "alice" else "alice"
            assert Webhook(secrets[name]).verify(delivery.body, delivery.headers)
            with pytest.raises(WebhookVerificationError):  # another tenant cannot sign it
                Webhook(secrets[other]).verify(delivery.body, delivery.headers)
        # The secrets are kept in the store, not made up per process: a restarted API hands
        # out the same ones.
        assert stack.api is not None
        os.killpg(stack.api.pid, signal.SIGTERM)
        stack.api.wait(15)
        stack.start_api(register=False)
        for name, key in keys.items():
            auth = {"Authorization": f"Bearer {key}"}
            again = stack.client.get("/v1/webhooks/secret", headers=auth)
            assert again.status_code == 200 and again.json()["secret"] == secrets[name]
    finally:
        stop_stack(stack, tmp_path)


def test_hanging_receivers_do_not_delay_another_receivers_webhook(
    files: FileServer, receiver: Receiver, tmp_path: Path
) -> None:
    # Two webhook slots and a 20 s timeout (under the task time limits, as by default);
    # six jobs whose receiver never answers (held for 30 s). Embedded: its own store, which
    # the module's other stacks do not read.
    env = {
        "ASYNCML_WEBHOOK_TIMEOUT_S": "20",
        "ASYNCML_WEBHOOK_RETRY_SCHEDULE_S": "0,60",
        "ASYNCML_TASK_SOFT_TIME_LIMIT_S": "40",
        "ASYNCML_TASK_TIME_LIMIT_S": "50",
        "ASYNCML_VISIBILITY_TIMEOUT_S": "60",
    }
    stack = start_stack("embedded", files, tmp_path, workers=0, env=env)
    stack.start_worker("audio", 2)
    stack.start_worker("webhooks", 2)
    hold = HoldServer()
    try:
        audio = f"{files.base_url}/short.wav"
        slow = [submit(stack, audio, f"{hold.url}/hook/{i}")["id"] for i in range(6)]
        wait_for(lambda: len(hold.hits) >= 2, 30, "both webhook slots to be held")
        path = f"/healthy/{uuid.uuid4()}"
        healthy = submit(stack, audio, f"{receiver.url}{path}")
        (delivery,) = receiver.wait(path, 1, timeout=90)
        finished = stack.wait_job(healthy["id"])["finished_at"]
        delay = time.time() - dt.datetime.fromisoformat(finished).timestamp()
        print(f"[webhooks] healthy webhook {delay:.2f}s after its job ended; 6 receivers hang")
        # It came before any hanging attempt ended (they end at their 20 s timeout at the
        # earliest): not one slow job has an attempt on record yet.
        for job_id in slow:
            assert stack.client.get(f"/v1/jobs/{job_id}").json()["deliveries"] == []
        assert json.loads(delivery.body)["data"]["id"] == healthy["id"]
    finally:
        hold.stop()
        stop_stack(stack, tmp_path)
