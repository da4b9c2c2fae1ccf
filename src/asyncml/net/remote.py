"""``RemoteFile``: a lazy, seekable, read-only file over HTTP.

Opening sends one ``Range: bytes=0-16383`` GET. A 206 answer means the server can serve
any span, so later reads fetch just the blocks they touch (header and tail probes stay
cheap). A 200 answer means it cannot: that one response is read forward into a spool only
as far as reads need, and closing the file reads a short rest to its end so the connection
can be reused (``EgressPolicy.drain_bytes``). Either way the byte cap and the deadline of
the open call hold.
"""

from __future__ import annotations

import errno
import io
from typing import TYPE_CHECKING, Protocol

import httpx

from asyncml.net.body import BodyReader, content_encoding, declared_length, parse_content_range
from asyncml.net.hops import Hops, check_status
from asyncml.net.readers import BLOCK, RangeReader, StreamReader
from asyncml.net.target import Target

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer


class _Reader(Protocol):
    @property
    def size(self) -> int | None: ...
    @property
    def fetched(self) -> int: ...
    def read_at(self, pos: int, n: int) -> bytes: ...
    def full_size(self) -> int: ...
    def close(self) -> None: ...


class RemoteFile(io.RawIOBase):
    """Reads fill the buffer fully unless at end of file, like a local file."""

    def __init__(self, reader: _Reader, *, url: str, content_type: str | None) -> None:
        super().__init__()
        self._reader = reader
        self._pos = 0
        self.url = url
        self.content_type = content_type

    @property
    def size(self) -> int | None:
        """Total size in bytes; None while a server without ranges has not said."""
        return self._reader.size

    @property
    def bytes_fetched(self) -> int:
        """Body bytes received from the network so far."""
        return self._reader.fetched

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        self._check_open()
        view = memoryview(buffer).cast("B")
        data = self._reader.read_at(self._pos, len(view))
        view[: len(data)] = data
        self._pos += len(data)
        return len(data)

    def readall(self) -> bytes:
        self._check_open()
        data = self._reader.read_at(self._pos, max(0, self._reader.full_size() - self._pos))
        self._pos += len(data)
        return data

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        self._check_open()
        if whence == io.SEEK_SET:
            pos = offset
        elif whence == io.SEEK_CUR:
            pos = self._pos + offset
        elif whence == io.SEEK_END:
            pos = self._reader.full_size() + offset
        else:
            raise ValueError(f"invalid whence ({whence}, should be 0, 1 or 2)")
        if pos < 0:
            raise OSError(errno.EINVAL, f"negative seek position {pos}")
        self._pos = pos
        return pos

    def tell(self) -> int:
        self._check_open()
        return self._pos

    def close(self) -> None:
        if not self.closed:
            self._reader.close()
        super().close()

    def _check_open(self) -> None:
        if self.closed:
            raise ValueError("I/O operation on closed file")


def open_remote(egress: Hops, url: str, *, limit: int, deadline: float) -> RemoteFile:
    head = min(BLOCK, limit)
    response, target = egress.request(url, {"Range": f"bytes=0-{head - 1}"}, deadline)
    try:
        reader = _first_reader(egress, response, target, limit=limit, deadline=deadline)
    except BaseException:
        response.close()
        raise
    return RemoteFile(
        reader, url=str(target.url), content_type=response.headers.get("Content-Type")
    )


def _first_reader(
    egress: Hops, response: httpx.Response, target: Target, *, limit: int, deadline: float
) -> _Reader:
    span = parse_content_range(response.headers.get("Content-Range"))
    if response.status_code == 416 and span is not None and span.total == 0:
        response.close()
        return RangeReader(egress, target, size=0, first=b"", limit=limit, deadline=deadline)
    if response.status_code == 206:
        usable = (
            span is not None
            and span.start == 0
            and span.total is not None
            and content_encoding(response) == "identity"
        )
        if usable and span is not None and span.total is not None:
            body = BodyReader(response, target, limit=limit, deadline=deadline)
            try:
                first = body.read_all()
            finally:
                response.close()
            return RangeReader(
                egress,
                target,
                size=span.total,
                first=first,
                fetched=body.received,
                etag=response.headers.get("ETag"),
                limit=limit,
                deadline=deadline,
            )
        # A partial answer we cannot place (no total, encoded): read the whole thing instead.
        response.close()
        response = egress.send(target, {}, deadline)
    try:
        check_status(response, target)
        length = declared_length(response) if content_encoding(response) == "identity" else None
        body = BodyReader(response, target, limit=limit, deadline=deadline)
    except BaseException:
        response.close()
        raise
    return StreamReader(
        body, response, target, size=length, limit=limit, drain=egress.policy.drain_bytes
    )
