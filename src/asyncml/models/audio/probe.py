"""Recognise an audio file from its first bytes and measure how long it plays."""

from __future__ import annotations

import os

from asyncml.errors import UnsupportedMediaError

from ._io import ReadSeekable, read_at
from .aiff import probe_aiff
from .flac import probe_flac
from .info import AudioInfo
from .mp3 import probe_mpeg
from .mp4 import probe_mp4
from .ogg import probe_ogg
from .tags import skip_id3v2
from .wav import WAVE_IDS, probe_wav

__all__ = ["probe", "probe_path"]

_HEAD_BYTES = 64
_PREVIEW_BYTES = 16


def probe(f: ReadSeekable) -> AudioInfo:
    """Measure the audio in the seekable binary file ``f``.

    Reads only what the format needs: the headers of WAV, AIFF, FLAC, MP4 and of MP3 files
    with a Xing/VBRI tag, the first and last pages of Ogg files, and the whole stream only
    for MP3 files without such a tag.

    Raises ``UnsupportedMediaError`` for anything that is not audio in a known format.
    Errors raised by ``f`` itself propagate unchanged.
    """
    head = read_at(f, 0, _HEAD_BYTES)
    if not head:
        raise UnsupportedMediaError("the file is empty")
    if head[:4] in WAVE_IDS and head[8:12] == b"WAVE":
        return probe_wav(f)
    if head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
        return probe_aiff(f)
    if head[:4] == b"fLaC":
        return probe_flac(f)
    if head[:4] == b"OggS":
        return probe_ogg(f)
    if head[4:8] == b"ftyp":
        return probe_mp4(f)
    start = skip_id3v2(f) if head[:3] == b"ID3" else 0
    if start and read_at(f, start, 4) == b"fLaC":
        return probe_flac(f, start)
    info = probe_mpeg(f, start)
    if info is not None:
        return info
    if start:
        raise UnsupportedMediaError("the file has an ID3 tag but no MPEG audio after it")
    raise UnsupportedMediaError(
        f"not a recognised audio format (got bytes starting with {_preview(head)})"
    )


def probe_path(path: str | os.PathLike[str]) -> AudioInfo:
    """``probe`` the file at ``path``."""
    with open(path, "rb") as f:
        return probe(f)


def _preview(head: bytes) -> str:
    """A short, printable hint of what the file holds instead of audio."""
    sample = head[:_PREVIEW_BYTES]
    printable = sum(32 <= b < 127 or b in b"\t\n\r" for b in sample)
    if printable < len(sample) * 0.8:
        return "0x" + sample[:8].hex()
    text = " ".join(sample.decode("latin-1").split())
    return "'" + "".join(c if " " <= c <= "~" else "?" for c in text) + "'"
