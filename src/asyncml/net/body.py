"""Reading one response body under the byte cap and the deadline."""

from __future__ import annotations

import re
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx

from asyncml.errors import DownloadError, FetchTimeoutError, TooLargeError
from asyncml.net.pinning import Scope, scoped
from asyncml.net.target import Target

_CONTENT_RANGE = re.compile(r"^\s*bytes\s+(?:(\d+)-(\d+)|\*)\s*/\s*(\d+|\*)\s*$", re.IGNORECASE)
# How long a drain may hold up a job that already has its answer, for a connection it can
# do without.
DRAIN_SECONDS = 0.1
_ZLIB_WBITS = {
    "gzip": 16 + zlib.MAX_WBITS,
    "x-gzip": 16 + zlib.MAX_WBITS,
    "deflate": zlib.MAX_WBITS,
}


def format_size(n: int) -> str:
    if n < 1024:
        return f"{n} bytes"
    size = n / 1024
    for unit in ("KiB", "MiB"):
        if size < 1024:
            return f"{size:,.1f}".removesuffix(".0") + f" {unit}"
        size /= 1024
    return f"{size:,.1f}".removesuffix(".0") + " GiB"


@contextmanager
def transport_errors(target: Target) -> Iterator[None]:
    """Turn httpx's transport failures into job errors a user can act on."""
    try:
        yield
    except httpx.ConnectTimeout:
        raise FetchTimeoutError(f"timeout: could not connect to {target.host} in time") from None
    except httpx.TimeoutException:
        raise FetchTimeoutError(f"timeout: {target.label} took too long to answer") from None
    except httpx.ConnectError as exc:
        message = f"could not connect to {target.host}: {exc}"
        raise DownloadError(message, retryable=True) from None
    except httpx.TransportError as exc:
        reason = str(exc) or type(exc).__name__
        message = f"download from {target.host} failed: {reason}"
        raise DownloadError(message, retryable=True) from None


@dataclass(frozen=True)
class ContentRange:
    start: int | None
    end: int | None
    total: int | None


def parse_content_range(value: str | None) -> ContentRange | None:
    match = _CONTENT_RANGE.match(value or "")
    if match is None:
        return None
    start, end, total = match.groups()
    return ContentRange(
        start=None if start is None else int(start),
        end=None if end is None else int(end),
        total=None if total == "*" else int(total),
    )


def content_encoding(response: httpx.Response) -> str:
    """The one coding applied to the body ("identity" when none), refusing ones we cannot undo."""
    header: str = response.headers.get("Content-Encoding", "")
    codings = [c.strip().lower() for c in header.split(",")]
    codings = [c for c in codings if c and c != "identity"]
    if not codings:
        return "identity"
    if len(codings) == 1 and codings[0] in _ZLIB_WBITS:
        return codings[0]
    raise DownloadError(
        f"the server sent {', '.join(codings)}-encoded content although asyncml asked for "
        "none; only gzip and deflate can be decoded"
    )


def declared_length(response: httpx.Response) -> int | None:
    try:
        return int(response.headers["Content-Length"])
    except (KeyError, ValueError):
        return None


def keeps_alive(response: httpx.Response) -> bool:
    """Whether the connection outlives this answer (HTTP/1.1 without ``Connection: close``);
    an HTTP/1.0 server such as ``python -m http.server`` closes it after every answer."""
    tokens = response.headers.get("Connection", "").lower().split(",")
    return response.http_version == "HTTP/1.1" and "close" not in map(str.strip, tokens)


class _Decoder:
    """zlib decoding that never produces more than the room it is given (no bombs)."""

    def __init__(self, coding: str) -> None:
        self._coding = coding
        self._zlib = zlib.decompressobj(_ZLIB_WBITS[coding])
        self._started = False

    def feed(self, data: bytes, room: int) -> bytes:
        try:
            out = self._zlib.decompress(data, room + 1)
        except zlib.error:
            if self._coding != "deflate" or self._started:
                raise
            # Some servers send raw deflate without the zlib header.
            self._zlib = zlib.decompressobj(-zlib.MAX_WBITS)
            out = self._zlib.decompress(data, room + 1)
        self._started = True
        return out

    def flush(self) -> bytes:
        tail = self._zlib.flush()
        if not self._zlib.eof:
            raise zlib.error("the stream ends before the compressed data does")
        return tail


class BodyReader:
    """Pulls one response's body chunk by chunk; ``received`` counts bytes off the wire.
    Every body the egress client reads goes through one, so the byte cap is kept here."""

    def __init__(
        self,
        response: httpx.Response,
        target: Target,
        *,
        limit: int,
        deadline: float,
        already: int = 0,
    ) -> None:
        # A body declared larger than the room left is refused before a byte of it is
        # read: reading towards the cap would only end at the deadline when the server
        # is slow, or never sends it. (A ranged answer declares its range, not the file.)
        length = declared_length(response)
        if length is not None and already + length > limit:
            response.close()
            raise TooLargeError(
                f"{target.label} is {format_size(length)}, over the {format_size(limit)} limit"
            )
        coding = content_encoding(response)
        self._raw: Iterator[bytes]
        if response.is_stream_consumed:
            # Built in memory (httpx.MockTransport's Response(content=...)): httpx has
            # already read and decoded it.
            self._raw, coding = iter([response.content]), "identity"
        else:
            self._raw = response.iter_raw()
        self._response = response
        self._target = target
        self._limit = limit
        self._deadline = deadline
        self._already = already
        self._decoder = None if coding == "identity" else _Decoder(coding)
        self._produced = 0
        self.received = 0
        self.done = False
        self._failed = False

    def next_chunk(self) -> bytes | None:
        """The next decoded bytes, or None at the end of the body."""
        while not self.done:
            try:
                if time.monotonic() >= self._deadline:
                    raise FetchTimeoutError(
                        f"timeout: {self._target.label} took too long to download"
                    )
                with scoped(Scope(self._deadline)), transport_errors(self._target):
                    raw = next(self._raw, None)
                data = self._take(raw)
            except BaseException:
                self._failed = True
                raise
            if data:
                return data
        return None

    def drain(self, most: int) -> None:
        """Read and drop the rest of the body, so that closing the response hands its
        connection back to the pool instead of closing it (as OkHttp does).

        Only for an unencoded body of declared length with at most ``most`` bytes left (and
        room under the byte cap), on a connection the server keeps open; for at most
        ``DRAIN_SECONDS`` and never past the deadline. Otherwise, and after a stall or any
        error, the body stays unfinished and closing the response closes the connection,
        as it would with no drain. Never raises: the caller already has its answer.
        """
        if self.done or self._failed or most <= 0 or self._decoder is not None:
            return
        length = declared_length(self._response)
        if length is None or not keeps_alive(self._response):
            return
        if length - self.received > min(most, self._limit - self._already - self.received):
            return
        deadline = min(self._deadline, time.monotonic() + DRAIN_SECONDS)
        try:
            # The scope clamps each socket read to the drain's deadline: a stall ends there.
            with scoped(Scope(deadline)):
                for raw in self._raw:
                    self.received += len(raw)
                    if time.monotonic() >= deadline:
                        return
        except Exception:
            self._failed = True
            return
        self.done = True

    def read_all(self) -> bytes:
        return b"".join(iter(self.next_chunk, None))

    def _take(self, raw: bytes | None) -> bytes:
        if raw is None:
            self.done = True
            data = b"" if self._decoder is None else self._flush()
        else:
            self.received += len(raw)
            self._check(self.received)
            data = raw if self._decoder is None else self._decode(raw)
        self._produced += len(data)
        self._check(self._produced)
        return data

    def _decode(self, raw: bytes) -> bytes:
        assert self._decoder is not None
        room = max(0, self._limit - self._already - self._produced)
        try:
            return self._decoder.feed(raw, room)
        except zlib.error as exc:
            raise DownloadError(
                f"{self._target.label} sent a corrupt compressed body: {exc}"
            ) from None

    def _flush(self) -> bytes:
        assert self._decoder is not None
        try:
            return self._decoder.flush()
        except zlib.error as exc:
            raise DownloadError(
                f"{self._target.label} sent a corrupt compressed body: {exc}"
            ) from None

    def _check(self, count: int) -> None:
        if self._already + count > self._limit:
            self._response.close()
            raise TooLargeError(
                f"{self._target.label} is larger than the {format_size(self._limit)} limit"
            )
