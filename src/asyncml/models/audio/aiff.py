"""AIFF and AIFF-C: the length is the COMM chunk's sample frame count.

Own parser rather than mutagen's ``AIFF``: that one also loads the ID3 chunk, truncates
non-integer sample rates and does not expose the frame count.
"""

from __future__ import annotations

import math
import struct

from asyncml.errors import UnsupportedMediaError

from ._io import ReadSeekable, file_size, read_exact
from .info import AudioInfo, audio_info

__all__ = ["probe_aiff"]

# AIFF-C compression types whose COMM frame count is exactly the number of PCM frames.
_UNCOMPRESSED = frozenset(
    {b"NONE", b"sowt", b"twos", b"raw ", b"in24", b"in32", b"42ni", b"23ni"}
    | {b"fl32", b"FL32", b"fl64", b"FL64", b"alaw", b"ALAW", b"ulaw", b"ULAW"}
)
# Compression types whose COMM count is in packets of a fixed number of frames.
_PACKET_FRAMES = {b"ima4": 64}
_MAX_CHUNKS = 512


def _extended(raw: bytes) -> float:
    """An IEEE 754 80-bit extended float, as AIFF stores its sample rate."""
    sign_exponent, mantissa = struct.unpack(">HQ", raw)
    exponent = sign_exponent & 0x7FFF
    if exponent == 0x7FFF:
        return math.nan
    try:
        value = math.ldexp(mantissa, exponent - 16383 - 63)
    except OverflowError:
        return math.nan
    return -value if sign_exponent & 0x8000 else value


def probe_aiff(f: ReadSeekable) -> AudioInfo:
    size = file_size(f)
    head = read_exact(f, 0, 12, "AIFF header")
    if head[:4] != b"FORM" or head[8:12] not in (b"AIFF", b"AIFC"):
        raise UnsupportedMediaError("not an AIFF file")
    is_aifc = head[8:12] == b"AIFC"
    pos = 12
    for _ in range(_MAX_CHUNKS):
        if pos + 8 > size:
            break
        chunk_id, chunk_size = struct.unpack(">4sI", read_exact(f, pos, 8, "chunk header"))
        if chunk_id == b"COMM":
            body = read_exact(f, pos + 8, 22 if is_aifc else 18, "COMM chunk")
            return _info(body, is_aifc)
        pos += 8 + chunk_size + (chunk_size & 1)
    raise UnsupportedMediaError("the AIFF file has no COMM chunk")


def _info(comm: bytes, is_aifc: bool) -> AudioInfo:
    channels, count, _bits = struct.unpack_from(">hIh", comm)
    rate = _extended(comm[8:18])
    compression = comm[18:22] if is_aifc else b"NONE"
    frames = count * _PACKET_FRAMES.get(compression, 1)
    duration = frames / rate if math.isfinite(rate) and rate > 0 else math.nan
    # Other compressed AIFF-C types are rare and the unit of their count is codec-defined:
    # report the duration it implies (as mutagen does) but claim no exact frame count.
    exact = compression in _UNCOMPRESSED or compression in _PACKET_FRAMES
    return audio_info(
        "aiff",
        sample_rate=rate,
        channels=channels,
        frames=frames if exact else None,
        duration=duration,
    )
