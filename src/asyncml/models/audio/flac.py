"""Native FLAC: the length is STREAMINFO's total sample count.

Own parser rather than mutagen's ``FLAC``: that one reads every metadata block in full
(embedded pictures included) and then seeks to the end of the file. Only the 42 bytes of
``fLaC`` + STREAMINFO are needed. When an encoder could not fill in the total (a stream
written to a pipe leaves it 0), the last frame header near the end of the file gives it.
"""

from __future__ import annotations

from dataclasses import dataclass

from asyncml.errors import UnsupportedMediaError

from ._io import ReadSeekable, file_size, read_at, read_exact
from .info import AudioInfo, audio_info

__all__ = ["StreamInfo", "parse_streaminfo", "probe_flac"]

_TAIL_WINDOWS = (64 * 1024, 1024 * 1024)
# Frame header block size codes with a fixed size (6 and 7 read the size after the header).
_BLOCK_SIZES = {1: 192, **{n: 576 << (n - 2) for n in range(2, 6)}}
_BLOCK_SIZES |= {n: 256 << (n - 8) for n in range(8, 16)}


@dataclass(frozen=True)
class StreamInfo:
    max_block_size: int
    sample_rate: int
    channels: int
    total_samples: int  # 0 when the encoder did not know it


def parse_streaminfo(body: bytes) -> StreamInfo:
    """The fields of a 34-byte STREAMINFO block body."""
    fields = int.from_bytes(body[10:18], "big")
    return StreamInfo(
        max_block_size=int.from_bytes(body[2:4], "big"),
        sample_rate=fields >> 44,
        channels=((fields >> 41) & 0x7) + 1,
        total_samples=fields & ((1 << 36) - 1),
    )


def probe_flac(f: ReadSeekable, start: int = 0) -> AudioInfo:
    """Probe a FLAC stream whose ``fLaC`` marker is at ``start`` (after any ID3v2 tag)."""
    head = read_exact(f, start, 42, "FLAC header")
    if head[:4] != b"fLaC":
        raise UnsupportedMediaError("not a FLAC file")
    if head[4] & 0x7F != 0 or int.from_bytes(head[5:8], "big") < 34:
        raise UnsupportedMediaError("the FLAC stream does not start with a STREAMINFO block")
    info = parse_streaminfo(head[8:42])
    if info.sample_rate == 0:
        raise UnsupportedMediaError("the flac header declares an invalid sample rate")
    frames = info.total_samples or _frames_from_last_frame(f, start + 42, info)
    return audio_info("flac", sample_rate=info.sample_rate, channels=info.channels, frames=frames)


def _frames_from_last_frame(f: ReadSeekable, audio_start: int, info: StreamInfo) -> int:
    end = file_size(f)
    for window in _TAIL_WINDOWS:
        tail_start = max(audio_start, end - window)
        tail = read_at(f, tail_start, end - tail_start)
        i = len(tail)
        while (i := max(tail.rfind(b"\xff\xf8", 0, i), tail.rfind(b"\xff\xf9", 0, i))) >= 0:
            frames = _frames_through(tail[i : i + 16], info)
            if frames is not None:
                return frames
        if tail_start == audio_start:
            break
    raise UnsupportedMediaError(
        "the FLAC stream declares no length and its last frame is unreadable"
    )


def _frames_through(header: bytes, info: StreamInfo) -> int | None:
    """Samples up to the end of the frame whose header starts ``header``, or None if not one."""
    if len(header) < 6 or header[3] & 0x01:
        return None
    variable = header[1] & 0x01
    block_code, rate_code = header[2] >> 4, header[2] & 0x0F
    channel_code = header[3] >> 4
    if block_code == 0 or rate_code == 15 or channel_code > 10:
        return None
    if (channel_code + 1 if channel_code < 8 else 2) != info.channels:
        return None
    number, pos = _utf8_number(header, 4)
    if number is None:
        return None
    if block_code in (6, 7):
        extra = 1 if block_code == 6 else 2
        block_size = int.from_bytes(header[pos : pos + extra], "big") + 1
        pos += extra
    else:
        block_size = _BLOCK_SIZES[block_code]
    pos += {12: 1, 13: 2, 14: 2}.get(rate_code, 0)
    if pos >= len(header) or _crc8(header[:pos]) != header[pos]:
        return None
    first = number if variable else number * info.max_block_size
    return first + block_size


def _utf8_number(data: bytes, pos: int) -> tuple[int | None, int]:
    """FLAC's UTF-8-style coded frame or sample number at ``pos``."""
    lead = data[pos]
    if lead < 0x80:
        return lead, pos + 1
    extra = next((n for n in range(1, 7) if not lead & (0x40 >> n)), None)
    if extra is None or lead & 0x40 == 0 or pos + 1 + extra > len(data):
        return None, pos
    value = lead & (0x3F >> extra)
    for b in data[pos + 1 : pos + 1 + extra]:
        if b & 0xC0 != 0x80:
            return None, pos
        value = (value << 6) | (b & 0x3F)
    return value, pos + 1 + extra


def _crc8(data: bytes) -> int:
    crc = 0
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = ((crc << 1) ^ 0x07) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc
