"""The /v1 API and the original contract against real API and worker processes, in every
layout: embedded Valkey, RabbitMQ broker + Redis store, Redis broker + store."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from pathlib import Path

import pytest
from celery import Celery

from asyncml.settings import Settings
from tests.integration.conftest import KNOWN_DRAW, layout_env, stop_stack
from tests.integration.fileserver import FileServer, HoldServer
from tests.integration.stack import Stack, wait_for

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(
    "name", ["short.wav", "stereo.wav", "tone.flac", "tone.ogg", "vbr.mp3", "vbr-noxing.mp3"]
)
def test_audio_length_is_exact(
    stack: Stack, files: FileServer, corpus: dict[str, float], name: str
) -> None:
    response = stack.submit("audio.length", {"url": f"{files.base_url}/{name}"})
    assert response.status_code == 202, response.text
    job = response.json()
    assert job["status"] == "queued"
    assert response.headers["location"] == f"/v1/jobs/{job['id']}"
    done = stack.wait_job(job["id"])
    assert done["status"] == "succeeded", done
    assert done["result"]["audio_length"] == pytest.approx(corpus[name], abs=1e-9)
    assert done["attempts"] == 1
    assert done["started_at"] and done["finished_at"]


def test_original_contract_audio(stack: Stack, files: FileServer, corpus: dict[str, float]) -> None:
    response = stack.client.post(
        "/audio/length", json={"audio_url": f"{files.base_url}/short.wav", "callback": True}
    )
    assert response.status_code == 201
    task_id = response.json()["id"]
    assert set(response.json()) == {"id"}
    first = stack.client.get(f"/task/{task_id}")
    assert first.status_code in (200, 202)
    assert first.json()["status"] in ("PENDING", "STARTED", "SUCCESS")
    stack.wait_job(task_id)
    final = stack.client.get(f"/task/{task_id}")
    assert final.status_code == 200
    body = final.json()
    assert body["status"] == "SUCCESS" and body["error"] is None
    assert body["result"]["audio_length"] == pytest.approx(corpus["short.wav"])


def test_original_contract_failure_and_unknown(stack: Stack, files: FileServer) -> None:
    response = stack.client.post(
        "/audio/length", json={"audio_url": f"{files.base_url}/OSR_missing.wav"}
    )
    task_id = response.json()["id"]
    stack.wait_job(task_id)
    final = stack.client.get(f"/task/{task_id}")
    assert final.status_code == 200
    assert final.json()["status"] == "FAILURE"
    assert final.json()["error"].startswith("download_failed:")
    assert "404" in final.json()["error"]
    assert stack.client.get(f"/task/{uuid.uuid4()}").status_code == 404
    assert stack.client.get(f"/v1/jobs/{uuid.uuid4()}").status_code == 404


def test_euro_results(stack: Stack) -> None:
    response = stack.client.post(
        "/euro/results", json={"draw_date": KNOWN_DRAW.draw_date.strftime("%d-%m-%Y")}
    )
    assert response.status_code == 201
    stack.wait_job(response.json()["id"])
    body = stack.client.get(f"/task/{response.json()['id']}").json()
    assert body["status"] == "SUCCESS"
    assert body["result"] == {
        "draw_date": "2024-01-05",
        "numbers": [7, 12, 23, 34, 45],
        "stars": [3, 11],
    }


@pytest.mark.parametrize(
    ("draw_date", "code"),
    [
        ("2024-01-03", "no_draw_on_date"),  # a Wednesday
        ("2010-06-08", "no_draw_on_date"),  # a Tuesday before Tuesday draws began
        ("2999-01-01", "future_date"),
        ("2024-01-09", "page_changed"),  # the page no longer has #ballsDrawn
        ("2024-01-12", "download_failed"),  # the site has no such page (404)
    ],
)
def test_euro_errors(stack: Stack, draw_date: str, code: str) -> None:
    job = stack.submit("euro.results", {"draw_date": draw_date}).json()
    done = stack.wait_job(job["id"])
    assert done["status"] == "failed"
    assert done["error"]["code"] == code, done["error"]


@pytest.mark.parametrize(
    ("path", "code"),
    [
        ("page.html", "unsupported_media"),
        ("missing.wav", "download_failed"),
    ],
)
def test_audio_errors(stack: Stack, files: FileServer, path: str, code: str) -> None:
    job = stack.submit("audio.length", {"url": f"{files.base_url}/{path}"}).json()
    done = stack.wait_job(job["id"])
    assert done["status"] == "failed"
    assert done["error"]["code"] == code


def test_a_failed_job_is_logged_as_failed_never_as_succeeded(
    stack: Stack, files: FileServer
) -> None:
    job = stack.submit("audio.length", {"url": f"{files.base_url}/missing.wav"}).json()
    assert stack.wait_job(job["id"])["status"] == "failed"
    worker_log = stack.log_dir / f"{stack.name}-worker-0.log"

    def about_job() -> list[str]:
        lines = [line for line in worker_log.read_text().splitlines() if job["id"] in line]
        # Celery's own line about the task comes last: wait for it.
        return lines if any("celery.app.trace" in line for line in lines) else []

    lines = wait_for(about_job, 15, "Celery's line about the failed job's task")
    assert any(
        " WARNING " in line and f"job {job['id']}: failed in" in line and "download_failed" in line
        for line in lines
    ), lines
    assert not any("succeeded" in line or ": ok" in line for line in lines), lines


def test_unreachable_host_fails_cleanly(stack: Stack) -> None:
    # Port 9 on loopback: nothing listens, the connection is refused at once.
    job = stack.submit("audio.length", {"url": "http://127.0.0.1:9/a.wav"}).json()
    done = stack.wait_job(job["id"])
    assert done["error"]["code"] == "download_failed"


def test_private_address_refused(stack: Stack) -> None:
    job = stack.submit("audio.length", {"url": "http://10.255.255.1/a.wav"}).json()
    done = stack.wait_job(job["id"])
    assert done["error"]["code"] == "destination_not_allowed"
    assert "ASYNCML_EGRESS_ALLOW" in done["error"]["message"]  # what would open the way


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"task": "audio.length", "input": {"url": "not a url"}}, "url"),
        ({"task": "audio.length", "input": {"url": "ftp://x/a.wav"}}, "url"),
        ({"task": "audio.length", "input": {}}, "url"),
        ({"task": "audio.length", "input": {"url": "http://a/b.wav", "extra": 1}}, "extra"),
        ({"task": "euro.results", "input": {"draw_date": "31-02-2024"}}, "draw_date"),
        ({"task": "euro.results", "input": {"draw_date": "yesterday"}}, "draw_date"),
        ({"task": "nope", "input": {}}, "nope"),
        ({"input": {}}, "task"),
    ],
)
def test_bad_input_is_422_naming_the_field(
    stack: Stack, body: dict[str, object], field: str
) -> None:
    response = stack.client.post("/v1/jobs", json=body)
    assert response.status_code == 422, response.text
    assert field in response.json()["error"]["message"]


def test_malformed_json_is_422(stack: Stack) -> None:
    for path in ("/v1/jobs", "/audio/length", "/euro/results"):
        response = stack.client.post(
            path, content=b'{"task": ', headers={"content-type": "application/json"}
        )
        assert response.status_code == 422, (path, response.text)
        assert "JSON" in response.json()["error"]["message"]


def test_original_routes_validate(stack: Stack) -> None:
    assert stack.client.post("/audio/length", json={}).status_code == 422
    response = stack.client.post("/euro/results", json={"draw_date": "2024-13-01"})
    assert response.status_code == 422
    assert "draw_date" in response.json()["error"]["message"]


def test_idempotency(stack: Stack, files: FileServer) -> None:
    key = str(uuid.uuid4())
    payload = {"url": f"{files.base_url}/short.wav"}
    first = stack.submit("audio.length", payload, **{"Idempotency-Key": key})
    again = stack.submit("audio.length", payload, **{"Idempotency-Key": key})
    assert first.status_code == again.status_code == 202
    assert first.json()["id"] == again.json()["id"]
    assert again.headers.get("idempotent-replayed") == "true"
    other = stack.submit(
        "audio.length", {"url": f"{files.base_url}/tone.ogg"}, **{"Idempotency-Key": key}
    )
    assert other.status_code == 409
    assert first.json()["id"] in other.json()["error"]["message"]


def test_long_poll_returns_when_done(stack: Stack, files: FileServer) -> None:
    job = stack.submit("audio.length", {"url": f"{files.base_url}/slow/1/short.wav"}).json()
    response = stack.client.get(f"/v1/jobs/{job['id']}", params={"wait": 20})
    assert response.status_code == 200
    assert response.json()["status"] == "succeeded"


def test_long_poll_times_out_with_current_state(stack: Stack, files: FileServer) -> None:
    job = stack.submit("audio.length", {"url": f"{files.base_url}/slow/3/short.wav"}).json()
    response = stack.client.get(f"/v1/jobs/{job['id']}", params={"wait": 0.5})
    assert response.status_code == 200
    assert response.json()["status"] in ("queued", "started")
    stack.wait_job(job["id"])


def embedded_broker(tmp: Path) -> str:
    settings = Settings(data_dir=tmp / "data", broker_url=None, store_url=None)
    return settings.effective_broker_url


def _workers(stack: Stack, queue: str) -> int:
    queues = {q["name"]: q for q in stack.client.get("/v1/queues").json()}
    return int(queues[queue]["workers"]) if queue in queues else 0


@pytest.mark.parametrize(
    ("layout", "pool"), [("embedded", "solo"), ("redis", "solo"), ("rabbitmq", "prefork")]
)
def test_cancel_stops_the_running_job(
    layout: str, pool: str, files: FileServer, tmp_path: Path
) -> None:
    # One worker process, and a download from a server that holds every request for 30 s
    # under a 60 s fetch deadline: the next job can only run in time if the cancel stopped
    # the first one and freed its process.
    env = layout_env(layout, files, tmp_path) | {
        "ASYNCML_FETCH_TIMEOUT_S": "60",
        "ASYNCML_TASK_SOFT_TIME_LIMIT_S": "90",
        "ASYNCML_TASK_TIME_LIMIT_S": "100",
        "ASYNCML_VISIBILITY_TIMEOUT_S": "120",
    }
    stack = Stack(layout, env, tmp_path)
    stack.start_worker("audio", 1, "--pool", pool)
    stack.start_worker("euro", 1, "--pool", pool)  # a node that hears the revoke, idle
    stack.start_api()
    hold = HoldServer()
    logs = [tmp_path / f"{layout}-worker-{i}.log" for i in range(2)]
    try:
        # A node beats once it is ready (Celery's worker_ready): then it hears revokes.
        wait_for(lambda: _workers(stack, "euro") > 0, 30, "the idle node to listen")
        job = stack.submit("audio.length", {"url": f"{hold.url}/held.wav"}).json()
        stack.wait_status(job["id"], "started")
        wait_for(lambda: hold.hits, 20, "the download to start")
        follow = stack.submit("audio.length", {"url": f"{files.base_url}/short.wav"}).json()
        canceled_at = time.time()
        response = stack.client.post(f"/v1/jobs/{job['id']}/cancel")
        assert response.status_code == 200
        assert response.json()["status"] == "canceled"
        assert response.json()["error"]["code"] == "canceled"
        # The canceled job itself stopped: its download's connection is closed, long before
        # the server would answer (30 s) or the fetch deadline (60 s) would end it.
        dropped = wait_for(lambda: hold.dropped, 20, "the canceled job's download to close")
        assert [path for path, _ in dropped] == ["/held.wav"]

        # Well before the held request (30 s) or the fetch deadline (60 s) would end.
        done = stack.wait_job(follow["id"], timeout=20)
        assert done["status"] == "succeeded"
        gap = dt.datetime.fromisoformat(done["started_at"]).timestamp() - canceled_at
        print(f"[cancel] {pool}: the next job started {gap:.2f}s after the cancel")
        assert len(hold.hits) == 1  # the canceled job was not tried again
        assert stack.client.get(f"/v1/jobs/{job['id']}").json()["status"] == "canceled"
        assert stack.client.post(f"/v1/jobs/{job['id']}/cancel").status_code == 409
        # No result backend: the revoke must not make every node warn about marking it.
        # Once both nodes have handled the revoke, neither warned that it could not mark the
        # task revoked in a result backend (there is none).
        broker = env["ASYNCML_BROKER_URL"] or embedded_broker(tmp_path)
        control = Celery(broker=broker, set_as_current=False).control

        def revoked_everywhere() -> bool:  # ours, and any other stack's on this broker
            replies = control.inspect(timeout=1).revoked() or {}
            return len(replies) >= 2 and all(job["id"] in ids for ids in replies.values())

        wait_for(revoked_everywhere, 20, "both nodes to handle the revoke")
        assert not any("as revoked in backend" in log.read_text() for log in logs)
    finally:
        hold.stop()
        stop_stack(stack, tmp_path)


def test_cancel_unknown_is_404(stack: Stack) -> None:
    assert stack.client.post(f"/v1/jobs/{uuid.uuid4()}/cancel").status_code == 404


def test_list_and_filter(stack: Stack, files: FileServer) -> None:
    broken = stack.submit("audio.length", {"url": f"{files.base_url}/missing.wav"}).json()["id"]
    assert stack.wait_job(broken)["status"] == "failed"
    ids = [
        stack.submit("audio.length", {"url": f"{files.base_url}/short.wav"}).json()["id"]
        for _ in range(3)
    ]
    for job_id in ids:
        stack.wait_job(job_id)
    page = stack.client.get("/v1/jobs", params={"limit": 2, "task": "audio.length"}).json()
    assert len(page["items"]) == 2 and page["next_cursor"]
    assert [j["id"] for j in page["items"]] == ids[::-1][:2]
    rest = stack.client.get(
        "/v1/jobs", params={"limit": 2, "task": "audio.length", "cursor": page["next_cursor"]}
    ).json()
    assert rest["items"][0]["id"] == ids[0]
    failed = stack.client.get("/v1/jobs", params={"status": "failed", "limit": 200}).json()
    assert broken in [j["id"] for j in failed["items"]]
    assert not set(ids) & {j["id"] for j in failed["items"]}
    assert {j["status"] for j in failed["items"]} == {"failed"}
    assert stack.client.get("/v1/jobs", params={"status": "bogus"}).status_code == 422
    assert stack.client.get("/v1/jobs", params={"cursor": "zzz"}).status_code == 422


def test_tasks_and_health(stack: Stack) -> None:
    tasks = {t["name"]: t for t in stack.client.get("/v1/tasks").json()}
    assert set(tasks) == {"audio.length", "audio.gender", "audio.transcribe", "euro.results"}
    assert tasks["audio.length"]["queue"] == "audio"
    assert "url" in tasks["audio.length"]["input_schema"]["properties"]
    assert "audio_length" in tasks["audio.length"]["output_schema"]["properties"]
    assert stack.client.get("/healthz").json() == {"status": "ok"}
    ready = stack.client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["broker"] == "ok"
    assert stack.client.get("/openapi.json").status_code == 200
    assert stack.client.get("/docs").status_code == 200
