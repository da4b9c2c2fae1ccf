"""The two ways a ``RemoteFile`` gets its bytes: ranged blocks, or one forward stream."""

from __future__ import annotations

import tempfile
from collections import OrderedDict

import httpx

from asyncml.errors import DownloadError, JobError, TooLargeError
from asyncml.net.body import BodyReader, content_encoding, format_size, parse_content_range
from asyncml.net.hops import Hops, check_status
from asyncml.net.target import Target

BLOCK = 16 * 1024  # a header answer needs one block; Range runs grow for sequential reads
_MAX_RUN = 64  # blocks per request once reads turn out sequential (1 MiB)
_CACHE_BLOCKS = 512  # 8 MiB of recently read blocks
_SPOOL_MEMORY = 4 * 1024 * 1024  # a forward stream spills to disk past this


class RangeReader:
    """Serves reads from cached ``BLOCK``-aligned blocks, fetching missing runs by Range."""

    def __init__(
        self,
        egress: Hops,
        target: Target,
        *,
        size: int,
        first: bytes,
        limit: int,
        deadline: float,
        fetched: int = 0,
        etag: str | None = None,
    ) -> None:
        self._egress = egress
        self._target = target
        self._limit = limit
        self._deadline = deadline
        # A weak ETag cannot guard a byte range; only a strong one goes into If-Range.
        self._etag = etag if etag and not etag.startswith("W/") else None
        self._cache: OrderedDict[int, bytes] = OrderedDict()
        self._run = 1
        self.size: int = size
        self.fetched = fetched
        # Kept whole even when it is not a full block (tiny cap, short answer): header
        # probes are served from it.
        self._head = first
        head = self._blocks_from(0, first)
        self._remember(head)
        self._next = len(head)

    def full_size(self) -> int:
        return self.size

    def close(self) -> None:
        self._cache.clear()

    def read_at(self, pos: int, n: int) -> bytes:
        end = min(pos + n, self.size)
        if pos >= end:
            return b""
        if end <= len(self._head):
            return self._head[pos:end]
        first, last = pos // BLOCK, (end - 1) // BLOCK
        blocks: dict[int, bytes] = {}
        index = first
        while index <= last:
            if index in self._cache:
                self._cache.move_to_end(index)
                blocks[index] = self._cache[index]
                index += 1
                continue
            stop = index
            while stop < last and stop + 1 not in self._cache:
                stop += 1
            got = self._fetch_blocks(index, self._extend(index, stop))
            blocks.update(got)
            self._remember(got)
            index = max(got) + 1
        data = b"".join(blocks[i] for i in range(first, last + 1))
        return data[pos - first * BLOCK : end - first * BLOCK]

    def _extend(self, start: int, stop: int) -> int:
        """Read ahead, doubling the request, while reads keep continuing the last one."""
        self._run = min(self._run * 2, _MAX_RUN) if start == self._next else 1
        ahead = min(start + self._run - 1, (self.size - 1) // BLOCK)
        while stop < ahead and stop + 1 not in self._cache:
            stop += 1
        return stop

    def _fetch_blocks(self, start: int, stop: int) -> dict[int, bytes]:
        offset = start * BLOCK
        end = min((stop + 1) * BLOCK, self.size) - 1
        if self.fetched + end - offset + 1 > self._limit:
            raise TooLargeError(
                f"reading more of {self._target.label} would pass the "
                f"{format_size(self._limit)} limit"
            )
        blocks = self._blocks_from(start, self._fetch_range(offset, end))
        if not blocks:
            raise DownloadError(
                f"{self._target.label} answered a range request with too little data"
            )
        self._next = max(blocks) + 1
        return blocks

    def _fetch_range(self, offset: int, end: int) -> bytes:
        headers = {"Range": f"bytes={offset}-{end}"}
        if self._etag:
            headers["If-Range"] = self._etag
        response = self._egress.send(self._target, headers, self._deadline)
        try:
            span = parse_content_range(response.headers.get("Content-Range"))
            if response.status_code != 206 or span is None:
                check_status(response, self._target)
                raise DownloadError(
                    f"{self._target.label} stopped honouring range requests or changed while "
                    f"being read (HTTP {response.status_code})"
                )
            if (
                span.start != offset
                or span.end is None
                or span.end > end
                or span.total != self.size
            ):
                raise DownloadError(
                    f"{self._target.label} answered bytes={offset}-{end} with "
                    f"{response.headers.get('Content-Range')!r}"
                )
            if content_encoding(response) != "identity":
                raise DownloadError(f"{self._target.label} sent an encoded range")
            body = BodyReader(
                response,
                self._target,
                limit=self._limit,
                deadline=self._deadline,
                already=self.fetched,
            )
            try:
                data = body.read_all()
            finally:
                self.fetched += body.received
            if len(data) != span.end - span.start + 1:
                raise DownloadError(f"{self._target.label} sent a range of the wrong length")
            return data
        finally:
            response.close()

    def _blocks_from(self, start: int, data: bytes) -> dict[int, bytes]:
        """Whole blocks of ``data`` (which begins at block ``start``); a short tail is dropped
        unless it is the end of the file."""
        blocks = {}
        for i in range(0, len(data), BLOCK):
            chunk = data[i : i + BLOCK]
            if len(chunk) == BLOCK or start * BLOCK + i + len(chunk) == self.size:
                blocks[start + i // BLOCK] = chunk
        return blocks

    def _remember(self, blocks: dict[int, bytes]) -> None:
        for index, chunk in blocks.items():
            self._cache[index] = chunk
            self._cache.move_to_end(index)
        while len(self._cache) > _CACHE_BLOCKS:
            self._cache.popitem(last=False)


class StreamReader:
    """Reads one 200 response forward into a spool, only as far as reads need."""

    def __init__(
        self,
        body: BodyReader,
        response: httpx.Response,
        target: Target,
        *,
        size: int | None,
        limit: int,
        drain: int = 0,
    ) -> None:
        self._body = body
        self._response = response
        self._target = target
        self._declared = size
        self._limit = limit
        self._drain = drain
        # Owned by this reader for the file's lifetime; close() releases it.
        self._spool = tempfile.SpooledTemporaryFile(max_size=_SPOOL_MEMORY)  # noqa: SIM115
        self._have = 0
        self._error: JobError | None = None

    @property
    def size(self) -> int | None:
        return self._have if self._body.done else self._declared

    @property
    def fetched(self) -> int:
        return self._body.received

    def read_at(self, pos: int, n: int) -> bytes:
        self._fill(pos + n)
        if pos >= self._have:
            return b""
        self._spool.seek(pos)
        return self._spool.read(min(n, self._have - pos))

    def full_size(self) -> int:
        if self._declared is not None:
            return self._declared
        self._fill(None)
        return self._have

    def close(self) -> None:
        # A probe stops reading early. Reading a short rest to its end keeps the connection
        # for the next fetch from this server (no connect, no TLS handshake) and spares the
        # server the reset that closing a socket with unread data sends.
        self._body.drain(self._drain)
        self._response.close()
        self._spool.close()

    def _fill(self, upto: int | None) -> None:
        if self._error is not None:
            raise self._error  # a failed stream must not later look like end of file
        if upto is not None and self._declared is not None:
            upto = min(upto, self._declared)
        wanted = self._declared if upto is None else upto
        try:
            if wanted is not None and wanted > self._limit:
                raise TooLargeError(
                    f"reading that far into {self._target.label} would pass the "
                    f"{format_size(self._limit)} limit"
                )
            while not self._body.done and (upto is None or self._have < upto):
                chunk = self._body.next_chunk()
                if chunk is None:
                    break
                self._spool.seek(0, 2)
                self._spool.write(chunk)
                self._have += len(chunk)
        except JobError as exc:
            self._error = exc
            self._response.close()
            raise
        if self._body.done:
            self._response.close()
