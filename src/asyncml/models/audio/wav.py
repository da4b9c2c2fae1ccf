"""RIFF/WAVE, RF64 and BW64: the length comes from the ``fmt`` and ``data`` chunk headers.

mutagen's WAVE reader is not used: it rejects RF64/BW64, divides the declared data size
without flooring, and trusts the placeholder sizes (0, 0xFFFFFFFF) that streaming writers
leave behind.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from asyncml.errors import UnsupportedMediaError

from ._io import ReadSeekable, file_size, read_exact
from .info import AudioInfo, audio_info

__all__ = ["WAVE_IDS", "probe_wav"]

WAVE_IDS = (b"RIFF", b"RF64", b"BW64")
# PCM, IEEE float, A-law and mu-law store every frame in block_align bytes.
_FIXED_FRAME_CODECS = frozenset({0x0001, 0x0003, 0x0006, 0x0007})
_EXTENSIBLE = 0xFFFE
_UNKNOWN_SIZES = (0, 0xFFFFFFFF)
_MAX_CHUNKS = 512


@dataclass(frozen=True)
class _Format:
    codec: int
    channels: int
    sample_rate: int
    byte_rate: int
    block_align: int


def _parse_fmt(body: bytes) -> _Format:
    codec, channels, rate, byte_rate, block_align, bits = struct.unpack_from("<HHIIHH", body)
    if codec == _EXTENSIBLE and len(body) >= 26:
        # The real codec is the first two bytes of the SubFormat GUID.
        (codec,) = struct.unpack_from("<H", body, 24)
    if block_align == 0 and bits:
        block_align = channels * ((bits + 7) // 8)
    return _Format(codec, channels, rate, byte_rate, block_align)


def _data_size(riff_id: bytes, declared: int, ds64: int | None, remaining: int) -> int:
    if riff_id != b"RIFF" and declared == 0xFFFFFFFF and ds64 is not None:
        size = ds64
    elif declared in _UNKNOWN_SIZES:
        # A streamed WAV: the writer could not go back to fill in the size.
        size = remaining
    else:
        size = declared
    # A file cut short holds fewer bytes than its header promises.
    return max(0, min(size, remaining))


def probe_wav(f: ReadSeekable) -> AudioInfo:
    size = file_size(f)
    head = read_exact(f, 0, 12, "WAVE header")
    riff_id = head[:4]
    if riff_id not in WAVE_IDS or head[8:12] != b"WAVE":
        raise UnsupportedMediaError("not a WAVE file")
    fmt: _Format | None = None
    ds64: int | None = None
    fact: int | None = None
    data_size: int | None = None
    pos = 12
    for _ in range(_MAX_CHUNKS):
        if pos + 8 > size:
            break
        chunk_id, chunk_size = struct.unpack("<4sI", read_exact(f, pos, 8, "chunk header"))
        body = pos + 8
        if chunk_id == b"ds64":
            ds64_body = read_exact(f, body, 16, "ds64 chunk")
            (ds64,) = struct.unpack_from("<Q", ds64_body, 8)
        elif chunk_id == b"fmt ":
            if chunk_size < 16:
                raise UnsupportedMediaError("the WAVE fmt chunk is too short")
            fmt = _parse_fmt(read_exact(f, body, min(chunk_size, 40), "fmt chunk"))
        elif chunk_id == b"fact" and chunk_size >= 4:
            (fact,) = struct.unpack("<I", read_exact(f, body, 4, "fact chunk"))
        elif chunk_id == b"data":
            data_size = _data_size(riff_id, chunk_size, ds64, size - body)
            if fmt is not None:
                break
            # fmt should come first; keep looking past the audio for a late one.
            chunk_size = data_size
        pos = body + chunk_size + (chunk_size & 1)
    if fmt is None:
        raise UnsupportedMediaError("the WAVE file has no fmt chunk")
    if data_size is None:
        raise UnsupportedMediaError("the WAVE file has no data chunk")
    return _info(fmt, data_size, fact)


def _info(fmt: _Format, data_size: int, fact: int | None) -> AudioInfo:
    rate, channels = fmt.sample_rate, fmt.channels
    if fmt.codec in _FIXED_FRAME_CODECS:
        if fmt.block_align == 0:
            raise UnsupportedMediaError("the WAVE fmt chunk declares a zero block size")
        frames = data_size // fmt.block_align
        return audio_info("wav", sample_rate=rate, channels=channels, frames=frames)
    if fact is not None:
        # Compressed codecs (ADPCM, GSM, MP3 in WAV) record their sample count in fact.
        return audio_info("wav", sample_rate=rate, channels=channels, frames=fact)
    if fmt.byte_rate == 0:
        raise UnsupportedMediaError(f"cannot tell the length of WAVE codec 0x{fmt.codec:04x}")
    duration = data_size / fmt.byte_rate
    return audio_info("wav", sample_rate=rate, channels=channels, duration=duration)
