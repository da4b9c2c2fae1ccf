"""Limits over real HTTP: body size (413), JSON nesting and input size (422, never 500),
the per-key rate limit (429) and the per-queue backlog cap (503), each with the answer a
client can act on."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.integration.conftest import start_stack, stop_stack
from tests.integration.fileserver import FileServer
from tests.integration.stack import Stack

KEYS = {name: f"{name}-key-0123456789abcdef" for name in ("limited", "other", "filler", "odd")}
MAX_QUEUED = 3
RATE = 20  # per minute: a burst of 20, then one every 3 s


@pytest.fixture(scope="module")
def limited(files: FileServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("limits")
    env = {
        "ASYNCML_API_KEYS": ",".join(f"{name}:{key}" for name, key in KEYS.items()),
        "ASYNCML_RATE_LIMIT": f"{RATE}/m",
        "ASYNCML_MAX_QUEUED": str(MAX_QUEUED),
        "ASYNCML_MAX_INPUT_BYTES": "4096",
    }
    # No worker: submitted jobs stay queued, so the backlog only grows.
    stack = start_stack("redis", files, tmp, workers=0, env=env)
    yield stack
    stop_stack(stack, tmp)


def _as(stack: Stack, name: str) -> httpx.Client:
    headers = {"Authorization": f"Bearer {KEYS[name]}"}
    return httpx.Client(base_url=stack.url, headers=headers, timeout=10)


def _error(response: httpx.Response, status: int) -> dict[str, str]:
    assert response.status_code == status, response.text
    error: dict[str, str] = response.json()["error"]
    return error


def test_a_body_over_the_cap_is_413_before_it_is_read(limited: Stack) -> None:
    big = b"x" * (1024 * 1024 + 1)
    with _as(limited, "other") as client:
        response = client.post("/v1/jobs", content=big, headers={"content-type": "text/plain"})
        assert _error(response, 413)["code"] == "too_large"

        def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it streams
            for _ in range(20):
                yield b"[" * 65536

        response = client.post("/v1/jobs", content=chunks())
        assert "ASYNCML_MAX_BODY_BYTES" in _error(response, 413)["message"]


@pytest.mark.parametrize("where", ["body", "input"])
def test_deep_nesting_is_422_not_a_recursion_error(limited: Stack, where: str) -> None:
    deep = "[" * 100_000 + "]" * 100_000
    body = deep if where == "body" else f'{{"task": "audio.length", "input": {{"x": {deep}}}}}'
    with _as(limited, "other") as client:
        response = client.post(
            "/v1/jobs", content=body, headers={"content-type": "application/json"}
        )
        error = _error(response, 422)
        assert error["code"] == "invalid_request" and "deeper than 32" in error["message"]
        # Still serving.
        assert client.get("/healthz").status_code == 200


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/jobs", rb'{"task": "euro.results", "input": {"draw_date": "\ud800"}}'),
        ("/v1/jobs", rb'{"task": "euro.results", "input": {"\ud800": "2024-01-05"}}'),
        ("/v1/jobs", rb'{"task": "euro.results", "input": {"draw_date": "\udc00\ud83d"}}'),
        ("/v1/jobs", rb'{"task": "\ud800", "input": {}}'),
        ("/v1/jobs", rb'{"\udfff": 1, "task": "euro.results", "input": {}}'),
        ("/audio/length", rb'{"audio_url": "http://example.com/\ud800.wav"}'),
    ],
)
def test_a_lone_surrogate_is_invalid_json_not_a_500(limited: Stack, path: str, body: bytes) -> None:
    with _as(limited, "odd") as client:
        response = client.post(path, content=body, headers={"content-type": "application/json"})
        error = _error(response, 422)
        assert error["code"] == "invalid_request" and "surrogate" in error["message"]


def test_a_surrogate_pair_is_a_character(limited: Stack) -> None:
    # An escaped pair (how json.dumps writes an emoji) reaches the schema, which judges it.
    body = rb'{"task": "euro.results", "input": {"draw_date": "\ud83d\ude00", "x": "\\ud800"}}'
    with _as(limited, "odd") as client:
        response = client.post(
            "/v1/jobs", content=body, headers={"content-type": "application/json"}
        )
        error = _error(response, 422)
        assert "surrogate" not in error["message"] and "draw_date" in error["message"]


@pytest.mark.parametrize("path", ["/v1/jobs", "/audio/length"])
def test_a_number_too_long_to_parse_is_422(limited: Stack, path: str) -> None:
    # Python refuses to read an integer of more than 4300 digits (CVE-2020-10735).
    body = f'{{"task": "euro.results", "input": {{"n": 1{"0" * 5000}}}}}'
    with _as(limited, "odd") as client:
        response = client.post(path, content=body, headers={"content-type": "application/json"})
        error = _error(response, 422)
        assert error["code"] == "invalid_request"
        assert error["message"].startswith("the request body is not valid JSON")


@pytest.mark.parametrize("path", ["/v1/jobs/{}", "/v1/jobs/{}/events", "/task/{}"])
def test_an_unknown_id_is_not_echoed_in_full(limited: Stack, path: str) -> None:
    long_id = "a" * 60_000
    with _as(limited, "odd") as client:
        response = client.get(path.format(long_id))
        assert response.status_code == 404, response.text[:200]
        assert len(response.content) < 500 and "60000 characters" in response.text


def test_moderate_nesting_is_judged_by_the_schema(limited: Stack) -> None:
    nested = "[" * 30 + "]" * 30
    body = f'{{"task": "euro.results", "input": {{"draw_date": {nested}}}}}'
    with _as(limited, "other") as client:
        response = client.post(
            "/v1/jobs", content=body, headers={"content-type": "application/json"}
        )
        assert "input.draw_date" in _error(response, 422)["message"]


def test_an_input_over_the_cap_is_422(limited: Stack) -> None:
    body = {"task": "audio.length", "input": {"url": "https://example.com/" + "a" * 5000}}
    with _as(limited, "other") as client:
        error = _error(client.post("/v1/jobs", json=body), 422)
        assert error["message"].startswith("input:") and "4096" in error["message"]


def test_the_rate_limit_is_per_key(limited: Stack) -> None:
    with _as(limited, "limited") as client, _as(limited, "other") as other:
        answers = [client.get("/v1/jobs", params={"limit": 1}) for _ in range(RATE + 1)]
        assert [r.status_code for r in answers[:RATE]] == [200] * RATE
        refused = answers[RATE]
        assert _error(refused, 429)["code"] == "rate_limited"
        assert int(refused.headers["Retry-After"]) == 60 // RATE
        assert other.get("/v1/jobs", params={"limit": 1}).status_code == 200
        # Operational routes are never limited.
        assert client.get("/healthz").status_code == 200


def test_a_full_queue_sheds_new_jobs(limited: Stack, files: FileServer) -> None:
    audio = {"task": "audio.length", "input": {"url": f"{files.base_url}/short.wav"}}
    with _as(limited, "filler") as client:
        for _ in range(MAX_QUEUED):
            assert client.post("/v1/jobs", json=audio).status_code == 202
        shed = client.post("/v1/jobs", json=audio)
        error = _error(shed, 503)
        assert error["code"] == "queue_full" and "'audio'" in error["message"]
        assert int(shed.headers["Retry-After"]) > 0
        legacy = client.post("/audio/length", json={"audio_url": f"{files.base_url}/short.wav"})
        assert _error(legacy, 503)["code"] == "queue_full"
        # Another queue is not affected.
        euro = {"task": "euro.results", "input": {"draw_date": "2024-01-05"}}
        assert client.post("/v1/jobs", json=euro).status_code == 202
        # A canceled job leaves the line, and makes room.
        first = client.get("/v1/jobs", params={"task": "audio.length"}).json()["items"][0]
        assert client.post(f"/v1/jobs/{first['id']}/cancel").status_code == 200
        assert client.post("/v1/jobs", json=audio).status_code == 202


def test_a_number_past_64_bits_is_422(limited: Stack) -> None:
    # Found by the schema fuzzer: orjson (the job record, the message) stops at 64 bits.
    body = (
        '{"task": "euro.results", "input": {"draw_date": "2024-01-05", "n": 18446744073709551616}}'
    )
    with _as(limited, "odd") as client:
        response = client.post(
            "/v1/jobs", content=body, headers={"content-type": "application/json"}
        )
        error = _error(response, 422)
        assert error["code"] == "invalid_request"
        assert "64-bit" in error["message"]
