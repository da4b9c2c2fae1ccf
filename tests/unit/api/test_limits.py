"""Request limits at the ASGI level: body cap (Content-Length and streamed), JSON nesting,
input size, and the per-key token bucket."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest

from asyncml.api.jobs import BadRequestError
from asyncml.api.limits import (
    LimitsMiddleware,
    RateLimitedError,
    RateLimiter,
    check_input_size,
    has_lone_surrogate,
    json_depth,
)

CAP = 2048


class Echo:
    """An app that reads the whole body and answers with its length."""

    def __init__(self) -> None:
        self.called = False

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.called = True
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            size += len(message.get("body", b""))
            if not message.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": str(size).encode()})


def _call(
    chunks: list[bytes], headers: dict[str, str], method: str = "POST"
) -> tuple[int, bytes, int, bool]:
    """Run a request through the middleware; (status, body, chunks read, app called)."""
    app = Echo()
    middleware = LimitsMiddleware(app, max_body_bytes=CAP, max_json_depth=32)
    pending = list(chunks)
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if not pending:
            return {"type": "http.disconnect"}
        chunk = pending.pop(0)
        return {"type": "http.request", "body": chunk, "more_body": bool(pending)}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": method,
        "path": "/v1/jobs",
        "headers": [(k.encode(), v.encode()) for k, v in headers.items()],
    }
    asyncio.run(middleware(scope, receive, send))
    starts = [m for m in sent if m["type"] == "http.response.start"]
    assert len(starts) == 1, sent  # exactly one answer, never the app's late one as well
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return starts[0]["status"], body, len(chunks) - len(pending), app.called


def test_an_announced_large_body_is_refused_unread() -> None:
    status, body, read, called = _call([b"x" * 10], {"content-length": str(CAP + 1)})
    assert status == 413 and read == 0 and not called
    assert orjson.loads(body)["error"]["code"] == "too_large"


@pytest.mark.parametrize("content_type", ["application/json", "text/plain"])
def test_a_streamed_body_is_counted(content_type: str) -> None:
    chunks = [b"1" * 1000] * 10
    status, _, read, _ = _call(chunks, {"content-type": content_type})
    assert status == 413 and read == 3  # stopped reading as soon as it went over


def test_bodies_within_the_cap_pass_whole() -> None:
    for content_type in ("application/json", "text/plain", ""):
        headers = {"content-type": content_type} if content_type else {}
        status, body, _, _ = _call([b"[1,", b"2]"], headers)
        assert (status, body) == (200, b"5")


def test_deep_json_is_422_before_the_app() -> None:
    deep = b"[" * 100_000 + b"]" * 100_000
    app_cap = LimitsMiddleware(Echo(), max_body_bytes=1 << 20, max_json_depth=32)
    sent: list[dict[str, Any]] = []

    async def run() -> None:
        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": deep, "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        scope = {"type": "http", "method": "POST", "path": "/", "headers": []}
        await app_cap(scope, receive, send)

    asyncio.run(run())
    assert sent[0]["status"] == 422
    assert b"deeper than 32" in sent[1]["body"]


def test_json_depth_ignores_strings_and_reads_a_deep_body() -> None:
    assert json_depth(b'{"a": [1, {"b": "[[[[{{{"}], "c": "\\"]]"}') == 3
    assert json_depth(b"1") == 0 and json_depth(b"[]") == 1
    # A million brackets: a scan that recursed would overflow the stack, one that went back
    # over the body would run past the suite's timeout; its speed is not asserted here.
    assert json_depth(b"[" * 500_000 + b"]" * 500_000) == 500_000


def test_input_size() -> None:
    check_input_size({"url": "x" * 100}, 256)
    with pytest.raises(BadRequestError, match=r"input: .* 256 allowed"):
        check_input_size({"url": "x" * 300}, 256)


def test_token_bucket() -> None:
    now = [100.0]
    limiter = RateLimiter(burst=3, per_s=0.5, clock=lambda: now[0])
    for _ in range(3):
        limiter.take("a")
    with pytest.raises(RateLimitedError) as info:
        limiter.take("a")
    assert info.value.retry_after == 2  # one token every 2 s
    limiter.take("b")  # other keys have their own bucket
    now[0] += 2
    limiter.take("a")
    with pytest.raises(RateLimitedError):
        limiter.take("a")
    now[0] += 3600  # refills up to the burst, no further
    for _ in range(3):
        limiter.take("a")
    with pytest.raises(RateLimitedError):
        limiter.take("a")


@pytest.mark.parametrize(
    ("body", "lone"),
    [
        (rb'{"a": "\ud800"}', True),
        (rb'{"\uDFFF": 1}', True),
        (rb'["ok", "\ud83d\ude00", "\ude00\ud83d"]', True),  # a pair in the wrong order
        (rb'{"a": "\ud83d\ude00 \u00e9"}', False),  # an emoji as json.dumps writes it
        (rb'{"a": "\\ud800"}', False),  # an escaped backslash, then plain text
        (rb'{"a": "\ud800\x"}', False),  # malformed anyway: the parser says so
        (b'{"a": "\xed\xa0\x80"}', False),  # raw bytes: the UTF-8 decoder refuses them
    ],
)
def test_a_lone_surrogate_escape_is_found(body: bytes, lone: bool) -> None:
    assert has_lone_surrogate(body) is lone


def test_a_lone_surrogate_is_422_before_the_app() -> None:
    body = b'{"task": "euro.results", "input": {"draw_date": "\\ud800"}}'
    status, answer, _, called = _call([body], {"content-type": "application/json"})
    assert status == 422 and not called
    assert "surrogate" in orjson.loads(answer)["error"]["message"]
