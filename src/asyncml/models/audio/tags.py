"""Where tag blocks around an audio stream begin and end (ID3v2, ID3v1, APEv2, Lyrics3).

Only the tag framing is read, never the tags themselves: cover art can be megabytes.
"""

from __future__ import annotations

import struct

from ._io import ReadSeekable, read_at

__all__ = ["skip_id3v2", "strip_trailing_tags"]

_MAX_TAGS = 8


def _syncsafe(raw: bytes) -> int | None:
    if any(b & 0x80 for b in raw):
        return None
    value = 0
    for b in raw:
        value = (value << 7) | b
    return value


def skip_id3v2(f: ReadSeekable, pos: int = 0) -> int:
    """The offset just past the ID3v2 tags at ``pos`` (some writers stack several)."""
    for _ in range(_MAX_TAGS):
        head = read_at(f, pos, 10)
        if len(head) < 10 or head[:3] != b"ID3" or head[3] == 0xFF:
            return pos
        size = _syncsafe(head[6:10])
        if size is None:
            return pos
        has_footer = head[3] >= 4 and head[5] & 0x10
        pos += 10 + size + (10 if has_footer else 0)
    return pos


def strip_trailing_tags(f: ReadSeekable, start: int, end: int) -> int:
    """The offset where tags appended after the audio in ``[start, end)`` begin."""
    for _ in range(_MAX_TAGS):
        tail_start = max(start, end - 160)
        tail = read_at(f, tail_start, end - tail_start)
        n = len(tail)
        if n >= 128 and tail[-128:-125] == b"TAG":
            size = 128
        elif n >= 32 and tail[-32:-24] == b"APETAGEX":
            tag_size, _items, flags = struct.unpack_from("<III", tail, n - 20)
            size = tag_size + (32 if flags & 0x80000000 else 0)
        elif n >= 15 and tail[-9:] == b"LYRICS200" and tail[-15:-9].isdigit():
            size = int(tail[-15:-9]) + 15
        elif n >= 10 and tail[-10:-7] == b"3DI":
            body = _syncsafe(tail[-4:])
            if body is None:
                break
            size = body + 20
        else:
            break
        if size <= 0 or size > end - start:
            break
        end -= size
    return end
