"""Ogg Vorbis, Opus, FLAC and Speex: the length is the granule position of the last page.

Own parser rather than mutagen's: mutagen reads the whole comment packet (cover art
included) and the last 64 KiB of the file, and when the final page belongs to another
logical stream it falls back to reading the whole file. Here the first page names the
codec, and the end of the file is read in growing windows until a complete, CRC-checked
page of the same stream turns up.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from asyncml.errors import UnsupportedMediaError

from ._io import ReadSeekable, file_size, read_at
from .flac import parse_streaminfo
from .info import AudioInfo, audio_info

__all__ = ["probe_ogg"]

_HEADER = struct.Struct("<4sBBqIIIB")  # capture, version, type, granule, serial, seq, crc, nsegs
_BOS = 0x02
_MAX_BOS_PAGES = 16
_ID_PACKET_BYTES = 128
_TAIL_WINDOWS = (16 * 1024, 80 * 1024, 1024 * 1024)


@dataclass(frozen=True)
class _Codec:
    format: str
    sample_rate: int
    channels: int
    pre_skip: int = 0


def _crc_table() -> tuple[int, ...]:
    table = []
    for i in range(256):
        r = i << 24
        for _ in range(8):
            r = ((r << 1) ^ 0x04C11DB7) if r & 0x80000000 else r << 1
        table.append(r & 0xFFFFFFFF)
    return tuple(table)


_CRC_TABLE = _crc_table()


def _crc(data: bytes) -> int:
    crc = 0
    for b in data:
        crc = ((crc << 8) & 0xFFFFFFFF) ^ _CRC_TABLE[(crc >> 24) ^ b]
    return crc


def _identify(packet: bytes) -> _Codec | None:
    """The codec whose identification header is ``packet`` (its first bytes suffice)."""
    if packet.startswith(b"\x01vorbis") and len(packet) >= 16:
        rate = int.from_bytes(packet[12:16], "little")
        return _Codec("ogg_vorbis", rate, packet[11])
    if packet.startswith(b"OpusHead") and len(packet) >= 12:
        # Opus always decodes at 48 kHz; the header's input rate is informational.
        return _Codec("ogg_opus", 48000, packet[9], int.from_bytes(packet[10:12], "little"))
    if packet.startswith(b"\x7fFLAC") and packet[9:13] == b"fLaC" and len(packet) >= 51:
        info = parse_streaminfo(packet[17:51])
        return _Codec("ogg_flac", info.sample_rate, info.channels)
    if packet.startswith(b"Speex   ") and len(packet) >= 52:
        rate, _mode, _version, channels = struct.unpack_from("<4I", packet, 36)
        return _Codec("ogg_speex", rate, channels)
    return None


def _first_audio_stream(f: ReadSeekable) -> tuple[int, _Codec]:
    """The serial number and codec of the first audio stream among the first pages."""
    pos = 0
    for _ in range(_MAX_BOS_PAGES):
        blob = read_at(f, pos, _HEADER.size + 255 + _ID_PACKET_BYTES)
        if len(blob) < _HEADER.size:
            break
        capture, version, kind, _granule, serial, _seq, _crc, nsegs = _HEADER.unpack_from(blob)
        if capture != b"OggS" or version != 0 or not kind & _BOS:
            break
        body_start = _HEADER.size + nsegs
        codec = _identify(blob[body_start:])
        if codec is not None:
            return serial, codec
        pos += body_start + sum(blob[_HEADER.size : body_start])
    raise UnsupportedMediaError("the Ogg file has no Vorbis, Opus, FLAC or Speex stream")


def _page_granule(data: bytes, i: int, serial: int) -> int | None:
    """The granule of the complete, intact page at ``data[i:]`` of ``serial``, else None."""
    if i + _HEADER.size > len(data):
        return None
    _capture, version, _kind, granule, page_serial, _seq, crc, nsegs = _HEADER.unpack_from(data, i)
    body_start = i + _HEADER.size + nsegs
    if version != 0 or page_serial != serial or granule == -1 or body_start > len(data):
        return None
    end = body_start + sum(data[i + _HEADER.size : body_start])
    if end > len(data):
        return None
    page = data[i : i + 22] + b"\0\0\0\0" + data[i + 26 : end]
    return granule if _crc(page) == crc else None


def _final_granule(f: ReadSeekable, serial: int) -> int:
    end = file_size(f)
    tail, tail_start = b"", end
    for window in _TAIL_WINDOWS:
        new_start = max(0, end - window)
        tail = read_at(f, new_start, tail_start - new_start) + tail
        searched_from, tail_start = tail_start - new_start, new_start
        # Pages starting in the part searched before were checked with all their bytes.
        i = searched_from + 3
        while (i := tail.rfind(b"OggS", 0, i)) >= 0:
            granule = _page_granule(tail, i, serial)
            if granule is not None:
                return granule
        if tail_start == 0:
            break
    raise UnsupportedMediaError("could not find the last page of the Ogg audio stream")


def probe_ogg(f: ReadSeekable) -> AudioInfo:
    serial, codec = _first_audio_stream(f)
    if codec.sample_rate == 0:
        raise UnsupportedMediaError(f"the {codec.format} header declares an invalid sample rate")
    frames = max(0, _final_granule(f, serial) - codec.pre_skip)
    return audio_info(
        codec.format, sample_rate=codec.sample_rate, channels=codec.channels, frames=frames
    )
