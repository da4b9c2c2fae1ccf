"""Limits that keep one client from hurting the others: request body size, JSON nesting,
job input size, and a request rate per API key.

``LimitsMiddleware`` is pure ASGI (nothing buffered but request bodies, which it caps), so
long-polls and event streams pass through untouched. A body announced larger than the cap
is answered 413 before a byte of it is read; a chunked body is counted as it arrives and
answered 413 as soon as it goes over. A JSON body nested deeper than the limit is answered
422 before any parser sees it: parsers recurse, and 100 000 nested lists would otherwise
end in a RecursionError (500). A JSON body with an escaped lone surrogate (``"\\ud800"``)
is answered 422 too: Python's parser accepts one, but it is not a character, so the string
could not be stored or echoed back (RFC 8259 leaves such escapes' meaning undefined).

The rate limit is a token bucket per key name **in this API process**: with N replicas
behind a load balancer a key may make up to N times the configured rate.
"""

from __future__ import annotations

import json
import math
import re
import time
from itertools import accumulate
from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from asyncml.api.jobs import BadRequestError
from asyncml.store.files import too_large_message as upload_too_large

UPLOAD_PATH = "/v1/files"

_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_STEP = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}
# A \u escape of either half of a surrogate pair (possibly an escaped backslash and text).
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


class RateLimitedError(Exception):
    """Too many requests for this key (HTTP 429)."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many requests; retry in {retry_after} s")
        self.retry_after = retry_after


def json_depth(body: bytes) -> int:
    """How deeply ``body``'s arrays and objects nest, without parsing (or recursing)."""
    brackets = _STRING.sub(b"", body).translate(None, _NOT_BRACKETS)
    # accumulate/max run in C: a 1 MiB body of brackets costs tens of milliseconds.
    return max(0, max(accumulate(map(_STEP.__getitem__, brackets)), default=0))


def has_lone_surrogate(body: bytes) -> bool:
    """Whether a JSON string in ``body`` escapes half a surrogate pair without the other.
    Only the strings with such an escape are decoded: emoji sent by ``json.dumps`` pairs."""
    if not _SURROGATE_ESCAPE.search(body):
        return False
    for match in _STRING.finditer(body):
        if not _SURROGATE_ESCAPE.search(match[0]):
            continue
        try:
            text: str = json.loads(match[0])
        except ValueError:
            continue  # malformed otherwise: the parser's own error explains
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return True
    return False


def _problem(status: int, code: str, message: str) -> tuple[dict[str, Any], bytes]:
    body = orjson.dumps({"error": {"code": code, "message": message}})
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    return {"type": "http.response.start", "status": status, "headers": headers}, body


async def _answer(send: Send, status: int, code: str, message: str) -> None:
    start, body = _problem(status, code, message)
    await send(start)
    await send({"type": "http.response.body", "body": body})


class BodyTooLargeError(Exception):
    pass


def too_large_message(max_body: int) -> str:
    return f"the request body is larger than {max_body} bytes (ASYNCML_MAX_BODY_BYTES)"


async def answer_too_large(send: Send, max_body: int) -> None:
    await _answer(send, 413, "too_large", too_large_message(max_body))


async def read_body(receive: Receive, max_body: int) -> bytes:
    """The whole request body; BodyTooLargeError as soon as it passes ``max_body``."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > max_body:
            raise BodyTooLargeError
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


class LimitsMiddleware:
    """Uploads (``POST /v1/files``) are capped at ``max_upload_bytes`` instead, and streamed
    through: never read here, whatever their content type."""

    def __init__(
        self,
        app: ASGIApp,
        max_body_bytes: int,
        max_json_depth: int,
        max_upload_bytes: int | None = None,
    ) -> None:
        self.app = app
        self.max_body = max_body_bytes
        self.max_depth = max_json_depth
        self.max_upload = max_upload_bytes or max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        upload = scope["method"] == "POST" and _is_upload(scope)
        max_body = self.max_upload if upload else self.max_body
        too_large = upload_too_large(max_body) if upload else too_large_message(max_body)
        length = headers.get(b"content-length", b"")
        if length.isdigit() and int(length) > max_body:
            await _answer(send, 413, "too_large", too_large)
            return
        content_type = headers.get(b"content-type", b"").lower()
        if (
            not upload
            and scope["method"] in {"POST", "PUT", "PATCH"}
            and (not content_type or b"json" in content_type)
        ):
            # FastAPI parses these as JSON: read them here (capped) and look at the nesting.
            try:
                body = await read_body(receive, self.max_body)
            except BodyTooLargeError:
                await _answer(send, 413, "too_large", too_large)
                return
            if json_depth(body) > self.max_depth:
                message = f"the request body nests deeper than {self.max_depth} levels"
                await _answer(send, 422, "invalid_request", message)
                return
            if has_lone_surrogate(body):
                message = (
                    "the request body is not valid JSON (a \\uD800-\\uDFFF escape without "
                    "the other half of its surrogate pair is not a character)"
                )
                await _answer(send, 422, "invalid_request", message)
                return
            await self.app(scope, replay(body, receive), send)
            return
        answered = False
        size = 0

        async def counted() -> Message:
            nonlocal answered, size
            message = await receive()
            if message["type"] == "http.request" and not answered:
                size += len(message.get("body", b""))
                if size > max_body:
                    answered = True
                    await _answer(send, 413, "too_large", too_large)
                    return {"type": "http.disconnect"}
            return message

        async def guarded(message: Message) -> None:
            if not answered:  # the app's own answer comes too late
                await send(message)

        try:
            await self.app(scope, counted, guarded)
        except Exception:
            if not answered:
                raise


def _is_upload(scope: Scope) -> bool:
    path: str = scope["path"]
    return path.removeprefix(scope.get("root_path", "")).rstrip("/") == UPLOAD_PATH


def replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def check_input_size(payload: Any, max_bytes: int) -> None:
    try:
        size = len(orjson.dumps(payload))
    except TypeError as exc:  # orjson: "Integer exceeds 64-bit range"
        # The job record, the broker message and every worker's JSON parser are 64-bit.
        raise BadRequestError(f"input: {exc}; send larger numbers as strings") from None
    if size > max_bytes:
        raise BadRequestError(
            f"input: {size} bytes of JSON, more than the {max_bytes} allowed "
            "(ASYNCML_MAX_INPUT_BYTES); pass large data by URL"
        )


class RateLimiter:
    """A token bucket per key: ``burst`` requests at once, refilled at ``per_s`` a second."""

    def __init__(self, burst: int, per_s: float, clock: Any = time.monotonic) -> None:
        self.burst = burst
        self.per_s = per_s
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}

    def take(self, key: str) -> None:
        """Spend one token of ``key``'s bucket, or raise RateLimitedError."""
        now = self.clock()
        tokens, then = self._buckets.get(key, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - then) * self.per_s)
        if tokens < 1:
            self._buckets[key] = (tokens, now)
            raise RateLimitedError(max(1, math.ceil((1 - tokens) / self.per_s)))
        self._buckets[key] = (tokens - 1, now)
