"""API keys over real HTTP: a key sees its own jobs only, and another key's job is a 404
exactly like a missing one, on every route that takes a job id."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.conftest import start_stack, stop_stack
from tests.integration.fileserver import FileServer
from tests.integration.stack import Stack

ALICE = "alice-key-0123456789abcdef"
BOB = "bob-key-0123456789abcdef0"


@pytest.fixture(scope="module")
def keyed(files: FileServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("auth")
    keys = tmp / "keys"
    keys.write_text(f"# owners\nalice:{ALICE}\n\nbob:{BOB}\n")
    # No worker: jobs stay queued, which is all that ownership needs.
    stack = start_stack("redis", files, tmp, workers=0, env={"ASYNCML_API_KEYS": f"@{keys}"})
    yield stack
    stop_stack(stack, tmp)


def _as(stack: Stack, key: str | None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.Client(base_url=stack.url, headers=headers, timeout=10)


def _submit(client: httpx.Client, files: FileServer) -> str:
    url = f"{files.base_url}/short.wav"
    response = client.post("/v1/jobs", json={"task": "audio.length", "input": {"url": url}})
    assert response.status_code == 202, response.text
    job_id: str = response.json()["id"]
    assert uuid.UUID(job_id).version == 4  # 122 random bits: not guessable
    return job_id


def _job_routes(job_id: str) -> list[tuple[str, str]]:
    return [
        ("GET", f"/v1/jobs/{job_id}"),
        ("GET", f"/v1/jobs/{job_id}?wait=0.1"),
        ("GET", f"/task/{job_id}"),
        ("POST", f"/v1/jobs/{job_id}/cancel"),
        ("GET", f"/v1/jobs/{job_id}/events"),
        ("POST", f"/v1/jobs/{job_id}/webhook/redeliver"),
    ]


def _comparable(response: httpx.Response, job_id: str) -> tuple[int, Any]:
    body = response.json()
    body["error"]["message"] = body["error"]["message"].replace(job_id, "ID")
    return response.status_code, body


def test_missing_or_wrong_key_is_401(keyed: Stack) -> None:
    for key in (None, "not-a-key-0123456789", ALICE + "x"):
        with _as(keyed, key) as client:
            for method, path in [("GET", "/v1/jobs"), ("POST", "/v1/jobs"), ("GET", "/task/x")]:
                response = client.request(method, path, json={})
                assert response.status_code == 401, (key, path, response.text)
                assert response.headers["WWW-Authenticate"].startswith("Bearer")
                error = response.json()["error"]
                assert error["code"] == "unauthorized" and "Bearer" in error["message"]
    with _as(keyed, None) as client:
        assert client.get("/v1/tasks").status_code == 401
        assert client.get("/v1/queues").status_code == 401


def test_operational_routes_stay_open(keyed: Stack) -> None:
    with _as(keyed, None) as client:
        for path in ("/healthz", "/readyz", "/metrics", "/docs", "/openapi.json"):
            assert client.get(path).status_code == 200, path
        schemes = client.get("/openapi.json").json()["components"]["securitySchemes"]
        assert any(s.get("scheme") == "bearer" for s in schemes.values())


def test_another_keys_job_is_a_404_like_a_missing_one(keyed: Stack, files: FileServer) -> None:
    with _as(keyed, ALICE) as alice, _as(keyed, BOB) as bob:
        job_id = _submit(alice, files)
        missing = str(uuid.uuid4())
        for method, path in _job_routes(job_id):
            theirs = bob.request(method, path)
            nobody = bob.request(method, path.replace(job_id, missing))
            assert theirs.status_code == 404, (path, theirs.text)
            assert _comparable(theirs, job_id) == _comparable(nobody, missing), path
        listed = bob.get("/v1/jobs").json()["items"]
        assert job_id not in {job["id"] for job in listed}
        # Alice still owns it, untouched by Bob's attempts, and can list and cancel it.
        assert alice.get(f"/v1/jobs/{job_id}").json()["status"] == "queued"
        assert job_id in {job["id"] for job in alice.get("/v1/jobs").json()["items"]}
        assert alice.get(f"/task/{job_id}").status_code == 202
        assert alice.post(f"/v1/jobs/{job_id}/cancel").json()["status"] == "canceled"


def test_legacy_routes_are_owned_too(keyed: Stack, files: FileServer) -> None:
    with _as(keyed, BOB) as bob, _as(keyed, ALICE) as alice:
        created = bob.post("/audio/length", json={"audio_url": f"{files.base_url}/short.wav"})
        assert created.status_code == 201, created.text
        job_id = created.json()["id"]
        assert bob.get(f"/task/{job_id}").status_code == 202
        assert alice.get(f"/task/{job_id}").status_code == 404
        assert bob.post(f"/v1/jobs/{job_id}/cancel").status_code == 200


def test_idempotency_keys_are_per_owner(keyed: Stack, files: FileServer) -> None:
    body = {"task": "audio.length", "input": {"url": f"{files.base_url}/short.wav"}}
    headers = {"Idempotency-Key": f"same-{uuid.uuid4()}"}
    with _as(keyed, ALICE) as alice, _as(keyed, BOB) as bob:
        first = alice.post("/v1/jobs", json=body, headers=headers).json()["id"]
        other = bob.post("/v1/jobs", json=body, headers=headers).json()["id"]
        assert first != other
        for client, job_id in ((alice, first), (bob, other)):
            assert client.post(f"/v1/jobs/{job_id}/cancel").status_code == 200


def test_the_sdk_sends_its_key(keyed: Stack) -> None:
    from asyncml import Client
    from asyncml.client.errors import AuthenticationError

    with Client(keyed.url, api_key=ALICE) as client:
        assert "audio.length" in {task.name for task in client.tasks()}
    with (
        Client(keyed.url, api_key="wrong-key-0123456789") as client,
        pytest.raises(AuthenticationError),
    ):
        client.tasks()


def test_refused_beyond_loopback_without_keys(tmp_path: Path) -> None:
    import subprocess
    import sys

    env = {"PATH": "/usr/bin:/bin", "ASYNCML_DATA_DIR": str(tmp_path), "HOME": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-m", "asyncml", "api", "--host", "0.0.0.0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        cwd=tmp_path,
    )
    assert done.returncode != 0
    assert "without API keys" in done.stderr and "ASYNCML_INSECURE_NO_AUTH" in done.stderr
