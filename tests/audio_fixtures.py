"""Small real audio files for tests, made with soundfile (libsndfile) or built byte by byte.

Every ``make_*`` function writes ``path`` and returns the number of sample frames it wrote,
which is the length a probe must report (computed here, not by the code under test).
"""

from __future__ import annotations

import io
import struct
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import numpy as np
import soundfile as sf

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

__all__ = [
    "CountingReader",
    "apev2_tag",
    "id3v1_tag",
    "id3v2_tag",
    "make_aiff",
    "make_flac",
    "make_m4a",
    "make_mp3",
    "make_ogg_opus",
    "make_ogg_vorbis",
    "make_sparse_wav",
    "make_wav",
    "mpeg_frames",
    "signal",
    "strip_xing",
    "wav_bytes",
]

_WRITE_BLOCK = 16384  # libsndfile's Vorbis encoder crashes on very large single writes


def signal(
    frames: int, channels: int, *, seed: int = 0, amplitude: float = 0.25, quiet_start: bool = False
) -> np.ndarray:
    """Deterministic noise, shape (frames, channels); silent first half if ``quiet_start``."""
    rng = np.random.default_rng(seed)
    data = (rng.uniform(-amplitude, amplitude, (frames, channels))).astype(np.float32)
    if quiet_start:
        data[: frames // 2] = 0
    return data


def _frames(seconds: float, rate: int) -> int:
    return round(seconds * rate)


def _write(
    path: Path | str, data: np.ndarray, rate: int, fmt: str, subtype: str, **kw: object
) -> int:
    with sf.SoundFile(path, "w", rate, data.shape[1], subtype, format=fmt, **kw) as out:
        for i in range(0, len(data), _WRITE_BLOCK):
            out.write(data[i : i + _WRITE_BLOCK])
    return len(data)


def make_wav(
    path: Path | str,
    seconds: float,
    rate: int = 16000,
    channels: int = 1,
    subtype: str = "PCM_16",
    container: str = "WAV",
) -> int:
    """A WAV file; ``container`` is "WAV", "WAVEX" (WAVE_FORMAT_EXTENSIBLE) or "RF64"."""
    data = signal(_frames(seconds, rate), channels)
    return _write(path, data, rate, container, subtype)


def make_aiff(
    path: Path | str, seconds: float, rate: int = 16000, channels: int = 1, subtype: str = "PCM_16"
) -> int:
    """An AIFF file (AIFF-C when ``subtype`` is "FLOAT")."""
    return _write(path, signal(_frames(seconds, rate), channels), rate, "AIFF", subtype)


def make_flac(
    path: Path | str, seconds: float, rate: int = 16000, channels: int = 1, amplitude: float = 0.25
) -> int:
    data = signal(_frames(seconds, rate), channels, amplitude=amplitude)
    return _write(path, data, rate, "FLAC", "PCM_16")


def make_ogg_vorbis(path: Path | str, seconds: float, rate: int = 16000, channels: int = 1) -> int:
    return _write(path, signal(_frames(seconds, rate), channels), rate, "OGG", "VORBIS")


def make_ogg_opus(path: Path | str, seconds: float, rate: int = 48000, channels: int = 1) -> int:
    """An Ogg Opus file; returns frames at ``rate`` (Opus itself always decodes at 48 kHz)."""
    return _write(path, signal(_frames(seconds, rate), channels), rate, "OGG", "OPUS")


def make_mp3(
    path: Path | str, seconds: float, rate: int = 44100, channels: int = 2, vbr: bool = True
) -> int:
    """An MP3 from LAME (via libsndfile), with its Xing/Info + LAME tag frame.

    The first half is silence and the second noise, so a VBR encoding's frames vary from
    the smallest to the largest bitrates.
    """
    data = signal(_frames(seconds, rate), channels, quiet_start=True)
    mode = "VARIABLE" if vbr else "CONSTANT"
    return _write(path, data, rate, "MP3", "MPEG_LAYER_III", bitrate_mode=mode)


def make_sparse_wav(path: Path | str, seconds: float, rate: int = 44100, channels: int = 2) -> int:
    """A 16-bit PCM WAV whose data is a hole in the file: costs no disk space or memory."""
    frames = _frames(seconds, rate)
    data_size = frames * channels * 2
    with open(path, "wb") as out:
        header = wav_bytes(
            rate=rate, channels=channels, data_size_field=data_size, riff_size_field=36 + data_size
        )
        out.write(header)
        out.truncate(44 + data_size)
    return frames


def wav_bytes(
    *,
    rate: int = 8000,
    channels: int = 1,
    bits: int = 16,
    data: bytes = b"",
    codec: int = 1,
    before_data: Sequence[tuple[bytes, bytes]] = (),
    riff_id: bytes = b"RIFF",
    data_size_field: int | None = None,
    riff_size_field: int | None = None,
) -> bytes:
    """A hand-built RIFF/WAVE file: fmt, the ``before_data`` chunks (odd sizes padded), data."""
    block_align = channels * bits // 8
    fmt = struct.pack("<HHIIHH", codec, channels, rate, rate * block_align, block_align, bits)
    body = b"WAVE" + _chunk(b"fmt ", fmt)
    for chunk_id, payload in before_data:
        body += _chunk(chunk_id, payload)
    size = len(data) if data_size_field is None else data_size_field
    body += b"data" + struct.pack("<I", size) + data
    riff_size = len(body) if riff_size_field is None else riff_size_field
    return riff_id + struct.pack("<I", riff_size) + body


def _chunk(chunk_id: bytes, payload: bytes) -> bytes:
    pad = b"\0" if len(payload) % 2 else b""
    return chunk_id + struct.pack("<I", len(payload)) + payload + pad


def _syncsafe(n: int) -> bytes:
    return bytes((n >> shift) & 0x7F for shift in (21, 14, 7, 0))


def id3v2_tag(padding: int = 1000, *, footer: bool = False) -> bytes:
    """An ID3v2.4 tag with one text frame and ``padding`` zero bytes (or a footer)."""
    text = b"\x03a title"
    frame = b"TIT2" + _syncsafe(len(text)) + b"\0\0" + text
    body = frame + (b"" if footer else b"\0" * padding)
    flags = 0x10 if footer else 0
    tag = b"ID3\x04\x00" + bytes([flags]) + _syncsafe(len(body)) + body
    return tag + (b"3DI\x04\x00" + bytes([flags]) + _syncsafe(len(body)) if footer else b"")


def id3v1_tag() -> bytes:
    return b"TAG" + b"a title".ljust(30, b"\0") + b"\0" * 94 + b"\x00"


def apev2_tag() -> bytes:
    """An APEv2 tag with a header, one item and a footer."""
    item = struct.pack("<II", 5, 0) + b"Title\0" + b"hello"
    size = len(item) + 32

    def frame(is_header: bool) -> bytes:
        flags = 0x80000000 | (0x20000000 if is_header else 0)
        return b"APETAGEX" + struct.pack("<IIII", 2000, size, 1, flags) + b"\0" * 8

    return frame(True) + item + frame(False)


# Layer III bitrates in kbit/s for MPEG-1 and for MPEG-2/2.5; Layer I/II for mpeg_frames.
_KBPS = {
    (1, 1): (0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448),
    (1, 2): (0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384),
    (1, 3): (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    (2, 1): (0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256),
    (2, 2): (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
    (2, 3): (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}
_RATES = {1: (44100, 48000, 32000), 2: (22050, 24000, 16000), 25: (11025, 12000, 8000)}
_VERSION_BITS = {1: 3, 2: 2, 25: 0}


def _frame_size(version: int, layer: int, kbps: int, rate: int, padding: int) -> int:
    bitrate = kbps * 1000
    if layer == 1:
        return (12 * bitrate // rate + padding) * 4
    if layer == 3 and version != 1:
        return 72 * bitrate // rate + padding
    return 144 * bitrate // rate + padding


def samples_per_frame(version: int, layer: int) -> int:
    if layer == 1:
        return 384
    return 576 if layer == 3 and version != 1 else 1152


def mpeg_frames(
    count: int, *, version: int = 1, layer: int = 2, kbps: int = 128, rate: int = 44100
) -> bytes:
    """``count`` synthetic MPEG audio frames (valid headers, silent bodies, alternating padding).

    ``version`` is 1, 2 or 25 (MPEG-2.5). Decoders reject the bodies; probes only read headers.
    """
    key = (1 if version == 1 else 2, layer)
    header = (0x7FF << 21) | (_VERSION_BITS[version] << 19) | ((4 - layer) << 17) | (1 << 16)
    header |= _KBPS[key].index(kbps) << 12 | _RATES[version].index(rate) << 10
    frames = []
    for i in range(count):
        padding = i % 2
        size = _frame_size(version, layer, kbps, rate, padding)
        frames.append((header | padding << 9).to_bytes(4, "big") + b"\0" * (size - 4))
    return b"".join(frames)


def strip_xing(mp3: bytes) -> bytes:
    """``mp3`` without its first frame, which must carry a Xing/Info or VBRI tag."""
    start = 0
    if mp3[:3] == b"ID3":
        size = sum(b << shift for b, shift in zip(mp3[6:10], (21, 14, 7, 0), strict=True))
        start = 10 + size + (10 if mp3[5] & 0x10 else 0)
    header = int.from_bytes(mp3[start : start + 4], "big")
    if header >> 21 != 0x7FF or (header >> 17) & 0x3 != 1:
        raise ValueError("the data does not start with an MPEG Layer III frame")
    version = {3: 1, 2: 2, 0: 25}[(header >> 19) & 0x3]
    kbps = _KBPS[(1 if version == 1 else 2, 3)][(header >> 12) & 0xF]
    rate = _RATES[version][(header >> 10) & 0x3]
    size = _frame_size(version, 3, kbps, rate, (header >> 9) & 0x1)
    frame = mp3[start : start + size]
    if not any(tag in frame for tag in (b"Xing", b"Info", b"VBRI")):
        raise ValueError("the first frame has no Xing/Info/VBRI tag")
    return mp3[:start] + mp3[start + size :]


def _atom(name: bytes, *children: bytes) -> bytes:
    payload = b"".join(children)
    return struct.pack(">I", 8 + len(payload)) + name + payload


def make_m4a(
    path: Path | str,
    duration: int,
    timescale: int = 44100,
    rate: int = 44100,
    channels: int = 2,
    *,
    mdat_size: int = 1000,
    moov_last: bool = False,
    handler: bytes = b"soun",
) -> None:
    """A minimal MP4 (ftyp, moov with one track, mdat) whose track lasts duration/timescale.

    The mdat holds ``mdat_size`` zero bytes, written as a hole in the file.
    """
    ftyp = _atom(b"ftyp", b"M4A ", struct.pack(">I", 0), b"M4A mp42isom")
    mvhd = _atom(
        b"mvhd", b"\0" * 12, struct.pack(">II", 1000, duration * 1000 // timescale), b"\0" * 80
    )
    mdhd = _atom(b"mdhd", b"\0" * 12, struct.pack(">II", timescale, duration), b"\x55\xc4\0\0")
    hdlr = _atom(b"hdlr", b"\0" * 8, handler, b"\0" * 12, b"sound\0")
    entry = _atom(
        b"mp4a",
        b"\0" * 6 + struct.pack(">H", 1) + b"\0" * 8,
        struct.pack(">HHHHI", channels, 16, 0, 0, rate << 16),
        _atom(b"free"),
    )
    stsd = _atom(b"stsd", struct.pack(">II", 0, 1), entry)
    trak = _atom(b"trak", _atom(b"mdia", mdhd, hdlr, _atom(b"minf", _atom(b"stbl", stsd))))
    moov = _atom(b"moov", mvhd, trak)
    mdat_header = struct.pack(">I", 8 + mdat_size) + b"mdat"
    with open(path, "wb") as out:
        out.write(ftyp)
        if not moov_last:
            out.write(moov)
        out.write(mdat_header)
        out.seek(mdat_size, io.SEEK_CUR)
        if moov_last:
            out.write(moov)
        out.truncate()


class CountingReader(io.RawIOBase):
    """A read-only file wrapper that counts the reads and bytes a consumer asks for."""

    def __init__(self, raw: BinaryIO) -> None:
        super().__init__()
        self._raw = raw
        self.reads = 0
        self.bytes_read = 0

    @classmethod
    def open(cls, path: Path | str) -> CountingReader:
        """The file at ``path`` behind a counter."""
        return cls(open(path, "rb"))

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        view = memoryview(buffer).cast("B")
        data = self._raw.read(len(view))
        view[: len(data)] = data
        self.reads += 1
        self.bytes_read += len(data)
        return len(data)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return self._raw.seek(offset, whence)

    def tell(self) -> int:
        return self._raw.tell()

    def close(self) -> None:
        self._raw.close()
        super().close()
