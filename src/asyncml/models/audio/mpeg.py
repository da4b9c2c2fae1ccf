"""MPEG audio frame headers and the Xing/Info, VBRI and LAME tags of a stream's first frame."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

__all__ = ["Frame", "VbrTag", "parse_frame", "parse_vbr_tag"]

MPEG1, MPEG2, MPEG25 = 3, 2, 0  # the header's version bits

_KBPS = {
    (True, 1): (0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448),
    (True, 2): (0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384),
    (True, 3): (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    (False, 1): (0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256),
    (False, 2): (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
    (False, 3): (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}
_RATES = {MPEG1: (44100, 48000, 32000), MPEG2: (22050, 24000, 16000), MPEG25: (11025, 12000, 8000)}
# Bits that decide a frame's size and validity; CRC, private, mode extension, copyright and
# original flags vary freely between frames.
_SIGNIFICANT_BITS = 0xFFFEFEC3
_LAME_VENDORS = (b"LAME", b"Lavf", b"Lavc")


@dataclass(frozen=True)
class Frame:
    version: int  # MPEG1, MPEG2 or MPEG25
    layer: int  # 1, 2 or 3
    sample_rate: int
    channels: int
    size: int  # bytes, header included
    samples: int  # per channel

    @property
    def stream(self) -> tuple[int, int, int]:
        """What every frame of one stream shares."""
        return self.version, self.layer, self.sample_rate


def parse_frame(header: bytes) -> Frame | None:
    """The frame whose 4-byte header is ``header``, or None if it is not a valid one.

    Free-format frames (bitrate index 0) are refused: their size is not in the header.
    """
    if len(header) < 4:
        return None
    return _decode(int.from_bytes(header[:4], "big") & _SIGNIFICANT_BITS)


@lru_cache(maxsize=4096)
def _decode(bits: int) -> Frame | None:
    version, layer_bits = (bits >> 19) & 0x3, (bits >> 17) & 0x3
    bitrate_index, rate_index = (bits >> 12) & 0xF, (bits >> 10) & 0x3
    if bits >> 21 != 0x7FF or version == 1 or layer_bits == 0:
        return None
    if bitrate_index in (0, 15) or rate_index == 3 or bits & 0x3 == 2:
        return None
    layer = 4 - layer_bits
    bitrate = _KBPS[(version == MPEG1, layer)][bitrate_index] * 1000
    rate = _RATES[version][rate_index]
    padding = (bits >> 9) & 0x1
    if layer == 1:
        samples, size = 384, (12 * bitrate // rate + padding) * 4
    elif layer == 3 and version != MPEG1:
        samples, size = 576, 72 * bitrate // rate + padding
    else:
        samples, size = 1152, 144 * bitrate // rate + padding
    channels = 1 if (bits >> 6) & 0x3 == 3 else 2
    return Frame(version, layer, rate, channels, size, samples)


@dataclass(frozen=True)
class VbrTag:
    """A Xing/Info or VBRI tag: it fills the first frame, which then carries no audio."""

    frames: int | None  # audio frames after the tag frame
    bytes: int | None  # stream bytes, tag frame included
    delay: int = 0  # encoder delay and padding in samples, from a LAME tag
    padding: int = 0


def parse_vbr_tag(data: bytes, frame: Frame) -> VbrTag | None:
    """The tag in the first frame's bytes ``data``, if it has one."""
    if frame.layer != 3:
        return None
    if frame.version == MPEG1:
        side_info = 32 if frame.channels == 2 else 17
    else:
        side_info = 17 if frame.channels == 2 else 9
    xing = 4 + side_info
    if data[xing : xing + 4] in (b"Xing", b"Info") and len(data) >= xing + 8:
        return _parse_xing(data, xing)
    if data[36:40] == b"VBRI" and len(data) >= 54 and data[40:42] == b"\x00\x01":
        return VbrTag(frames=_u32(data, 50), bytes=_u32(data, 46))
    return None


def _u32(data: bytes, pos: int) -> int:
    return int.from_bytes(data[pos : pos + 4], "big")


def _parse_xing(data: bytes, xing: int) -> VbrTag | None:
    flags = _u32(data, xing + 4)
    pos = xing + 8
    fields: list[int | None] = [None, None]
    for i, flag in enumerate((0x1, 0x2)):
        if flags & flag:
            if len(data) < pos + 4:
                return None
            fields[i] = _u32(data, pos)
            pos += 4
    pos += (100 if flags & 0x4 else 0) + (4 if flags & 0x8 else 0)
    delay, padding = _lame_gapless(data, pos)
    return VbrTag(frames=fields[0], bytes=fields[1], delay=delay, padding=padding)


def _lame_gapless(data: bytes, lame: int) -> tuple[int, int]:
    """Encoder delay and padding from the LAME tag at ``lame``, or (0, 0) if there is none.

    The tag is trusted when its CRC checks out (LAME covers the frame up to the CRC field,
    FFmpeg the first 190 bytes) or when an encoder known to write it signed it.
    """
    if len(data) < lame + 36:
        return 0, 0
    stored = int.from_bytes(data[lame + 34 : lame + 36], "big")
    signed = data[lame : lame + 4] in _LAME_VENDORS
    if not (signed or stored in (_crc16(data[: lame + 34]), _crc16(data[:190]))):
        return 0, 0
    packed = int.from_bytes(data[lame + 21 : lame + 24], "big")
    return packed >> 12, packed & 0xFFF


def _crc16(data: bytes) -> int:
    """CRC-16/ARC, the checksum of the LAME tag."""
    crc = 0
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc
