"""The fast routes answer exactly as the FastAPI routes they stand in front of.

Each case sends the same request to an app with the fast lane and to one without it (same
store), and compares status, body and the headers a client acts on.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import redis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import SecretStr

from asyncml.api import fastlane
from asyncml.api.app import create_app
from asyncml.settings import Settings
from tests.conftest import UNIT_DB, require_service
from tests.registry import register_builtins

URL = f"redis://127.0.0.1:6379/{UNIT_DB}"
KEY = "alice-key-0123456789abcdef"
OTHER_KEY = "bob-key-0123456789abcdef0"


def _without_fast_lane(app: FastAPI) -> FastAPI:
    app.user_middleware = [m for m in app.user_middleware if m.cls is not fastlane.FastLane]
    return app


def _has_fast_lane(app: FastAPI) -> bool:
    return any(m.cls is fastlane.FastLane for m in app.user_middleware)


def _pair(**settings: Any) -> Iterator[tuple[TestClient, TestClient]]:
    require_service("Redis", "127.0.0.1", 6379)
    redis.Redis.from_url(URL).flushdb()
    register_builtins(URL)
    base = Settings(store_url=URL, broker_url=URL, **settings)
    fast, full = create_app(base), _without_fast_lane(create_app(base))
    assert _has_fast_lane(fast) and not _has_fast_lane(full)
    with TestClient(fast) as a, TestClient(full) as b:
        yield a, b
    redis.Redis.from_url(URL).flushdb()


@pytest.fixture
def clients() -> Iterator[tuple[TestClient, TestClient]]:
    yield from _pair()


@pytest.fixture
def keyed() -> Iterator[tuple[TestClient, TestClient]]:
    yield from _pair(api_keys=SecretStr(f"alice:{KEY},bob:{OTHER_KEY}"))


def _same(fast: Any, full: Any) -> None:
    assert fast.status_code == full.status_code, (fast.text, full.text)
    assert fast.json() == full.json()
    for header in ("content-type", "www-authenticate", "retry-after"):
        assert fast.headers.get(header) == full.headers.get(header), header


def test_submit_then_read_answer_as_the_fastapi_routes(
    clients: tuple[TestClient, TestClient],
) -> None:
    fast, full = clients
    body = {"audio_url": "http://127.0.0.1:9/a.wav"}
    created = fast.post("/audio/length", json=body)
    assert created.status_code == 201 and set(created.json()) == {"id"}
    assert full.post("/audio/length", json=body).status_code == 201
    job_id = created.json()["id"]
    read = fast.get(f"/task/{job_id}")
    assert read.status_code == 202
    assert read.json() == {"id": job_id, "status": "PENDING", "error": None, "result": None}
    _same(read, full.get(f"/task/{job_id}"))
    # What the worker would have stored: the finished job reads 200 on both.
    redis.Redis.from_url(URL).hset(f"asyncml:job:{job_id}", "status", "succeeded")
    finished = fast.get(f"/task/{job_id}")
    assert finished.status_code == 200 and finished.json()["status"] == "SUCCESS"
    _same(finished, full.get(f"/task/{job_id}"))


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (b'{"audio_url": "not a url"}', "application/json"),
        (b'{"audio_url": "file:///etc/passwd"}', "application/json"),
        (b"{}", "application/json"),
        (b'{"audio_url": ', "application/json"),
        (b"[]", "application/json"),
        (b'{"audio_url": "http://127.0.0.1:9/a.wav", "callback": "maybe"}', "application/json"),
        (b'{"audio_url": "http://127.0.0.1:9/a.wav"}', "text/plain"),
        (b"\xff\xfe{", "application/json"),
    ],
)
def test_bad_submits_get_the_fastapi_answer(
    clients: tuple[TestClient, TestClient], content: bytes, content_type: str
) -> None:
    fast, full = clients
    headers = {"content-type": content_type}
    _same(
        fast.post("/audio/length", content=content, headers=headers),
        full.post("/audio/length", content=content, headers=headers),
    )


def test_bodies_the_limits_refuse_get_the_same_answers() -> None:
    for fast, full in _pair(max_body_bytes=1024, max_json_depth=4):
        cases: list[tuple[bytes, dict[str, str]]] = [
            (b'{"audio_url": "' + b"a" * 2000 + b'"}', {}),  # over the body cap
            (b'{"audio_url": [[[[["x"]]]]]}', {}),  # nested deeper than the limit
        ]
        for content, extra in cases:
            headers = {"content-type": "application/json", **extra}
            _same(
                fast.post("/audio/length", content=content, headers=headers),
                full.post("/audio/length", content=content, headers=headers),
            )

        def chunked() -> Iterator[bytes]:  # no Content-Length: the limits count as it comes
            yield b'{"audio_url": "http://x.example/a'
            yield b"b" * 2000 + b'"}'

        answers = [
            c.post("/audio/length", content=chunked(), headers={"content-type": "application/json"})
            for c in (fast, full)
        ]
        assert answers[0].status_code == answers[1].status_code == 413
        assert answers[0].json() == answers[1].json()


def test_a_callback_submit_is_handed_to_the_fastapi_route(
    clients: tuple[TestClient, TestClient],
) -> None:
    fast, _ = clients
    response = fast.post(
        "/audio/length", json={"audio_url": "http://127.0.0.1:9/a.wav", "callback": True}
    )
    assert response.status_code == 201 and set(response.json()) == {"id"}


def test_unknown_ids_and_keys_answer_as_the_fastapi_routes(
    keyed: tuple[TestClient, TestClient],
) -> None:
    fast, full = keyed
    alice, bob = {"Authorization": f"Bearer {KEY}"}, {"Authorization": f"Bearer {OTHER_KEY}"}
    job_id = fast.post("/audio/length", json={"audio_url": "http://x.example/a"}, headers=alice)
    assert job_id.status_code == 201
    path = f"/task/{job_id.json()['id']}"
    cases: list[dict[str, str]] = [
        {},
        {"Authorization": "Bearer wrong-key-0123456789abcdef"},
        {"Authorization": f"Basic {KEY}"},
        {"Authorization": "Bearer"},
        bob,
    ]
    for headers in cases:
        _same(fast.get(path, headers=headers), full.get(path, headers=headers))
        body = {"audio_url": "http://x.example/a"}
        if headers is not bob:
            _same(
                fast.post("/audio/length", json=body, headers=headers),
                full.post("/audio/length", json=body, headers=headers),
            )
    _same(
        fast.get("/task/no-such-job", headers=alice), full.get("/task/no-such-job", headers=alice)
    )
    assert fast.get(path, headers=alice).status_code == 202


def test_each_fast_request_spends_one_token_of_the_rate_limit() -> None:
    for fast, _ in _pair(rate_limit="3/h"):
        answers = [fast.get("/task/nope").status_code for _ in range(4)]
        assert answers == [404, 404, 404, 429]
        limited = fast.post("/audio/length", json={"audio_url": "http://x.example/a"})
        assert limited.status_code == 429 and limited.headers["retry-after"]


def test_request_metrics_name_the_route_template(clients: tuple[TestClient, TestClient]) -> None:
    fast, _ = clients
    job_id = fast.post("/audio/length", json={"audio_url": "http://x.example/a"}).json()["id"]
    fast.get(f"/task/{job_id}")
    fast.post("/audio/length", content=b"{", headers={"content-type": "application/json"})
    metrics = fast.get("/metrics").text
    assert 'route="/task/{task_id}",status="202"' in metrics
    assert 'route="/audio/length",status="201"' in metrics
    assert 'route="/audio/length",status="422"' in metrics
    assert job_id not in metrics


def test_plain_requests_stay_in_the_fast_lane_and_the_rest_are_handed_on(
    clients: tuple[TestClient, TestClient],
) -> None:
    fast, _ = clients
    assert fast.get("/healthz").status_code == 200  # builds the middleware stack
    layer: Any = fast.app.middleware_stack  # type: ignore[attr-defined]
    while not isinstance(layer, fastlane.FastLane):
        layer = layer.app
    below, handed = layer.app, []

    async def recording(scope: Any, receive: Any, send: Any) -> None:
        handed.append(scope["path"])
        await below(scope, receive, send)

    layer.app = recording
    job_id = fast.post("/audio/length", json={"audio_url": "http://x.example/a"}).json()["id"]
    assert fast.get(f"/task/{job_id}").status_code == 202
    assert fast.get("/task/no-such-job").status_code == 404
    assert handed == []
    # A callback goes through the routes' own submit function, so it stays in the lane too.
    fast.post("/audio/length", json={"audio_url": "http://x.example/a", "callback": True})
    assert handed == []
    fast.post("/audio/length", content=b"{", headers={"content-type": "application/json"})
    fast.get("/v1/jobs")
    assert handed == ["/audio/length", "/v1/jobs"]
