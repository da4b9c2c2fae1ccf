"""``RemoteFile`` over bytes that need no HTTP: a data: URI's, an uploaded file's.

``Egress.open``/``fetch`` hand such URLs here, so a task reads every kind of input URL the
same way (``asyncml.sources``). An uploaded file is read from the job store in blocks
(``GETRANGE``), cached, and only as far as reads go: probing the header of a 500 MB
upload costs one block, as a Range request does over HTTP. The byte cap of the call holds.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Protocol

from asyncml import sources
from asyncml.errors import DownloadError, JobError, TooLargeError
from asyncml.net.body import format_size
from asyncml.net.remote import RemoteFile

BLOCK = 64 * 1024
_CACHE_BLOCKS = 128  # 8 MiB of recently read blocks


class StoredFile(Protocol):
    """What the job store says about an uploaded file, and how to read a span of it."""

    size: int
    content_type: str | None

    def read(self, offset: int, length: int) -> bytes: ...


# file id -> the stored file, or None when there is none (expired, never uploaded)
FileLookup = Callable[[str], StoredFile | None]


class BlockReader:
    """Reads served from cached ``BLOCK``-aligned blocks of ``read(offset, length)``."""

    def __init__(self, size: int, read: Callable[[int, int], bytes]) -> None:
        self.size = size
        self.fetched = 0
        self._read = read
        self._cache: OrderedDict[int, bytes] = OrderedDict()

    def full_size(self) -> int:
        return self.size

    def close(self) -> None:
        self._cache.clear()

    def read_at(self, pos: int, n: int) -> bytes:
        end = min(pos + n, self.size)
        if pos >= end:
            return b""
        first, last = pos // BLOCK, (end - 1) // BLOCK
        data = b"".join(self._block(i) for i in range(first, last + 1))
        return data[pos - first * BLOCK : end - first * BLOCK]

    def _block(self, index: int) -> bytes:
        if index in self._cache:
            self._cache.move_to_end(index)
            return self._cache[index]
        block = self._read(index * BLOCK, min(BLOCK, self.size - index * BLOCK))
        self.fetched += len(block)
        self._cache[index] = block
        if len(self._cache) > _CACHE_BLOCKS:
            self._cache.popitem(last=False)
        return block


def _capped(size: int, limit: int, label: str) -> None:
    if size > limit:
        raise TooLargeError(f"{label} is {format_size(size)}, over the {format_size(limit)} limit")


def open_data(url: str, limit: int) -> RemoteFile:
    try:
        content_type, body = sources.parse_data_uri(url)
    except ValueError as exc:
        raise JobError(f"invalid data: URI: {exc}", code="invalid_input") from None
    _capped(len(body), limit, "the data: URI's content")
    reader = BlockReader(len(body), lambda offset, length: body[offset : offset + length])
    return RemoteFile(reader, url=url, content_type=content_type)


def open_stored(url: str, limit: int, lookup: FileLookup | None) -> RemoteFile:
    try:
        found = lookup(sources.file_id(url)) if lookup is not None else None
    except ValueError as exc:
        raise JobError(str(exc), code="invalid_input") from None
    if found is None:
        raise DownloadError(
            f"{url}: no such uploaded file (expired, or not in this deployment's job store)"
        )
    _capped(found.size, limit, f"{url}")
    return RemoteFile(BlockReader(found.size, found.read), url=url, content_type=found.content_type)
