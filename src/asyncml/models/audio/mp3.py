"""MPEG audio streams (MP3, and the rare MP2/MP1): count the frames.

A Xing/Info or VBRI tag in the first frame gives the frame count, and a LAME tag the
encoder delay and padding, so such files are probed from their first frame. Without one
every frame header is walked: mutagen instead divides the file size by the first frame's
bitrate, which is wrong for VBR files (a quiet intro at 32 kbit/s makes the estimate
several times too long).
"""

from __future__ import annotations

from ._io import ReadSeekable, file_size, read_at
from .info import AudioInfo, audio_info
from .mpeg import Frame, VbrTag, parse_frame, parse_vbr_tag
from .tags import strip_trailing_tags

__all__ = ["probe_mpeg"]

_FIRST_CHUNK = 4 * 1024  # enough for a tagged file's first frames
_CHUNK = 64 * 1024
_SCAN = 4 * 1024
_KEEP_BEHIND = 16 * 1024  # a few frames: resync looks back after checking a chain
_SYNC_SEARCH = 64 * 1024
_CHAIN = 4  # frames in a row that make a stream; random bytes almost never manage two
_RESYNC_CHAIN = 2
_FORMATS = {1: "mp1", 2: "mp2", 3: "mp3"}


class _Window:
    """Forward reads of ``[0, end)`` in growing chunks, so a frame walk costs few requests."""

    def __init__(self, f: ReadSeekable, end: int) -> None:
        self._f = f
        self.end = end
        self._base = 0
        self._buf = b""
        self._chunk = _FIRST_CHUNK

    def peek(self, pos: int, size: int) -> bytes:
        stop = min(pos + size, self.end)
        if not self._base <= pos <= self._base + len(self._buf):
            self._base, self._buf = pos, b""
        buf_end = self._base + len(self._buf)
        if stop > buf_end:
            keep = max(self._base, pos - _KEEP_BEHIND)
            wanted = min(max(stop - buf_end, self._chunk), self.end - buf_end)
            self._chunk = min(2 * self._chunk, _CHUNK)
            more = read_at(self._f, buf_end, wanted)
            if len(more) < wanted:
                self.end = buf_end + len(more)  # the file is shorter than its size said
                stop = min(stop, self.end)
            self._buf = self._buf[keep - self._base :] + more
            self._base = keep
        return self._buf[pos - self._base : stop - self._base]

    def frame_at(self, pos: int) -> Frame | None:
        return parse_frame(self.peek(pos, 4))


def _chain(window: _Window, pos: int, first: Frame, length: int) -> bool:
    """Whether ``length`` frames of ``first``'s stream follow each other from ``pos``."""
    count, pos = 1, pos + first.size
    while count < length:
        if pos == window.end:
            return count >= 2
        frame = window.frame_at(pos)
        if frame is None or frame.stream != first.stream:
            return False
        count, pos = count + 1, pos + frame.size
    return pos <= window.end


def _find_stream(
    window: _Window, pos: int, limit: int, stream: tuple[int, int, int] | None, length: int
) -> tuple[int, Frame] | None:
    """The first frame in ``[pos, limit)`` that starts a chain of ``length`` frames."""
    while pos < min(limit, window.end - 3):
        data = window.peek(pos, _SCAN)
        i = data.find(b"\xff")
        if i < 0:
            pos += len(data)
            continue
        at = pos + i
        frame = window.frame_at(at)
        if (
            frame is not None
            and stream in (None, frame.stream)
            and _chain(window, at, frame, length)
        ):
            return at, frame
        pos = at + 1
    return None


def _walk(window: _Window, pos: int, first: Frame) -> int:
    """Samples per channel in the frames from ``pos`` to the end, skipping any garbage."""
    samples = 0
    while pos + 4 <= window.end:
        frame = window.frame_at(pos)
        if frame is None or frame.stream != first.stream:
            found = _find_stream(window, pos + 1, window.end, first.stream, _RESYNC_CHAIN)
            if found is None:
                break
            pos = found[0]
            continue
        if pos + frame.size > window.end:
            break  # a frame cut off by the end of the file
        samples += frame.samples
        pos += frame.size
    return samples


def _trusted(tag: VbrTag, stream_bytes: int) -> bool:
    """Whether the tag describes this file, not the file it was cut from or joined to."""
    if not tag.frames:
        return False
    return tag.bytes is None or abs(stream_bytes - tag.bytes) <= stream_bytes // 10 + 4096


def probe_mpeg(f: ReadSeekable, start: int = 0) -> AudioInfo | None:
    """Probe the MPEG audio stream at or soon after ``start``; None if there is none."""
    end = strip_trailing_tags(f, start, file_size(f))
    window = _Window(f, end)
    found = _find_stream(window, start, start + _SYNC_SEARCH, None, _CHAIN)
    if found is None:
        return None
    pos, first = found
    tag = parse_vbr_tag(window.peek(pos, first.size), first)
    if tag is not None and tag.frames is not None and _trusted(tag, window.end - pos):
        samples = tag.frames * first.samples
        if tag.delay + tag.padding < samples:
            samples -= tag.delay + tag.padding
    else:
        if tag is not None:
            pos += first.size  # the tag frame decodes to silence that players skip
        samples = _walk(window, pos, first)
    return audio_info(
        _FORMATS[first.layer],
        sample_rate=first.sample_rate,
        channels=first.channels,
        frames=samples,
    )
