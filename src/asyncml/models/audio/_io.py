"""Positioned reads on a seekable file.

The file may be a lazy remote file that turns each read into an HTTP Range request, so the
parsers ask for what they need at an offset and seek over everything else.
"""

from __future__ import annotations

import os
from typing import Protocol

from asyncml.errors import UnsupportedMediaError

__all__ = ["ReadSeekable", "file_size", "read_at", "read_exact"]


class ReadSeekable(Protocol):
    """What ``probe`` needs of a file: positioned binary reads.

    ``BinaryIO`` files, ``io.RawIOBase`` files (``asyncml.net.RemoteFile`` is one) and
    ``io.BytesIO`` all qualify.
    """

    def read(self, size: int = -1, /) -> bytes | None: ...

    def seek(self, offset: int, whence: int = 0, /) -> int: ...

    def tell(self) -> int: ...


def file_size(f: ReadSeekable) -> int:
    return f.seek(0, os.SEEK_END)


def read_at(f: ReadSeekable, offset: int, size: int) -> bytes:
    """Up to ``size`` bytes at ``offset``; fewer only at the end of the file."""
    f.seek(offset)
    data = f.read(size) or b""  # a raw file with no data ready returns None
    if len(data) >= size or not data:
        return data
    # Raw and remote file objects may return short reads before the end.
    parts = [data]
    got = len(data)
    while got < size:
        more = f.read(size - got)
        if not more:
            break
        parts.append(more)
        got += len(more)
    return b"".join(parts)


def read_exact(f: ReadSeekable, offset: int, size: int, what: str) -> bytes:
    """Exactly ``size`` bytes at ``offset``, or ``UnsupportedMediaError`` naming ``what``."""
    data = read_at(f, offset, size)
    if len(data) < size:
        raise UnsupportedMediaError(f"the file ends inside its {what}; it may be truncated")
    return data
