"""``probe`` on arbitrary bytes (Hypothesis, derandomized): it answers an ``AudioInfo`` with
sane fields or raises ``UnsupportedMediaError`` / a ``JobError``; never another exception,
never a hang. Inputs are bounded (64 KiB); many start with a real format's magic bytes so
that every parser, not only the format sniffing, sees garbage.
"""

from __future__ import annotations

import functools
import io
import math
import struct
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from asyncml.errors import JobError
from asyncml.models.audio.info import AudioInfo
from asyncml.models.audio.probe import probe
from tests import audio_fixtures as fx

MAX_BYTES = 64 * 1024
# What a probe may do with at most MAX_BYTES of input, far above what any format needs (a
# walk over every MP3 frame makes a few thousand reads): a probe that loops over its input
# goes past these; one that loops without reading is stopped by the suite's timeout.
MAX_CALLS = 100_000
MAX_READ = 16 * MAX_BYTES
FORMATS = {
    "wav",
    "aiff",
    "flac",
    "ogg_vorbis",
    "ogg_opus",
    "ogg_flac",
    "ogg_speex",
    "mp3",
    "mp2",
    "mp1",
    "m4a",
}


def _riff(kind: bytes) -> bytes:
    return kind + struct.pack("<I", 0xFFFFFFFF) + b"WAVE"


MAGIC = [
    b"",
    _riff(b"RIFF"),
    _riff(b"RF64"),
    _riff(b"RIFF") + b"fmt " + struct.pack("<IHHIIHH", 16, 1, 2, 44100, 176400, 4, 16),
    b"FORM\x00\x00\x10\x00AIFF",
    b"FORM\x00\x00\x10\x00AIFC",
    b"fLaC",
    b"fLaC\x00\x00\x00\x22",
    b"OggS\x00\x02",
    b"\x00\x00\x00\x20ftypM4A ",
    b"\x00\x00\x00\x18ftypisom",
    b"ID3\x04\x00\x00\x00\x00\x00\x00",
    b"ID3\x03\x00\x00\x00\x00\x02\x00",
    b"\xff\xfb\x90\x64",
    b"\xff\xf3\x48\xc4",
    b"\xff\xfd",
]


def _made(make: Callable[[Path], object]) -> Callable[[], bytes]:
    def build() -> bytes:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "clip"
            make(path)
            return path.read_bytes()

    return build


# Real files of every format, small: mutating them reaches deep into each parser.
SEEDS: dict[str, Callable[[], bytes]] = {
    "wav": lambda: fx.wav_bytes(data=bytes(64)),
    "wavex": _made(lambda p: fx.make_wav(p, 0.05, 8000, 2, container="WAVEX")),
    "rf64": _made(lambda p: fx.make_wav(p, 0.05, 8000, 1, container="RF64")),
    "aiff": _made(lambda p: fx.make_aiff(p, 0.05, 8000)),
    "aifc": _made(lambda p: fx.make_aiff(p, 0.05, 8000, subtype="FLOAT")),
    "flac": _made(lambda p: fx.make_flac(p, 0.1, 8000)),
    "vorbis": _made(lambda p: fx.make_ogg_vorbis(p, 0.1, 8000)),
    "opus": _made(lambda p: fx.make_ogg_opus(p, 0.1)),
    "mp3": _made(lambda p: fx.make_mp3(p, 0.2, 22050, 1)),
    "mp2": lambda: fx.mpeg_frames(8),
    "id3+mp2": lambda: fx.id3v2_tag(padding=16) + fx.mpeg_frames(4, version=2, rate=22050),
    "m4a": _made(lambda p: fx.make_m4a(p, 44100, mdat_size=64)),
}


@functools.cache
def seed(name: str) -> bytes:
    data = SEEDS[name]()
    assert len(data) <= MAX_BYTES, (name, len(data))
    return data


def mutated(seed: bytes) -> st.SearchStrategy[bytes]:
    """``seed`` with a few bytes overwritten and possibly truncated."""
    edits = st.lists(st.tuples(st.integers(0, max(len(seed) - 1, 0)), st.integers(0, 255)))

    def apply(args: tuple[list[tuple[int, int]], int]) -> bytes:
        data = bytearray(seed)
        for at, value in args[0][:16]:
            if data:
                data[at] = value
        return bytes(data[: args[1]])

    return st.tuples(edits, st.integers(0, len(seed))).map(apply)


files = st.one_of(
    st.sampled_from(sorted(SEEDS)).flatmap(lambda name: mutated(seed(name))),
    st.binary(max_size=MAX_BYTES),
    st.tuples(st.sampled_from(MAGIC), st.binary(max_size=4096)).map(b"".join),
    st.tuples(st.sampled_from(MAGIC), st.binary(max_size=64), st.binary(max_size=64)).map(
        lambda parts: parts[0] + parts[1] + bytes(MAX_BYTES - 256) + parts[2]
    ),
)


class CountingReader(io.BytesIO):
    """The input, counting the calls made on it and the bytes read from it."""

    calls = 0
    bytes_read = 0

    def read(self, size: int | None = -1, /) -> bytes:
        self.calls += 1
        data = super().read(size)
        self.bytes_read += len(data)
        return data

    def readinto(self, buffer: Any, /) -> int:
        self.calls += 1
        n = super().readinto(buffer)
        self.bytes_read += n
        return n

    def seek(self, offset: int, whence: int = 0, /) -> int:
        self.calls += 1
        return super().seek(offset, whence)


def check_probe(data: bytes) -> None:
    assert len(data) <= MAX_BYTES
    source = CountingReader(data)
    try:
        info = probe(source)
    except JobError:  # UnsupportedMediaError among them
        info = None
    assert source.calls <= MAX_CALLS and source.bytes_read <= MAX_READ, (
        source.calls,
        source.bytes_read,
    )
    if info is None:
        return
    assert isinstance(info, AudioInfo)
    assert info.format in FORMATS
    assert math.isfinite(info.duration) and info.duration >= 0
    assert isinstance(info.sample_rate, int) and info.sample_rate >= 1
    assert isinstance(info.channels, int) and info.channels >= 1
    assert info.frames is None or (isinstance(info.frames, int) and info.frames >= 0)


@settings(
    max_examples=1000,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=files)
def test_probe_on_arbitrary_bytes_answers_or_refuses(data: bytes) -> None:
    check_probe(data)
