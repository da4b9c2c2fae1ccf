"""asyncml.models.audio: exact lengths of real files, how little is read, what is refused.

Expected lengths come from what the fixture wrote (and, where it is exact, from libsndfile
or mutagen), never from the code under test.
"""

from __future__ import annotations

import io
import random
from pathlib import Path

import mutagen.mp3
import mutagen.oggopus
import mutagen.oggvorbis
import pytest
import soundfile as sf
from mutagen.mp3._util import XingHeader

from asyncml.errors import DownloadError, UnsupportedMediaError
from asyncml.models.audio import AudioInfo, probe, probe_path
from tests import audio_fixtures as fx

KIB = 1024


def probe_bytes(data: bytes) -> AudioInfo:
    return probe(io.BytesIO(data))


def probe_counted(path: Path) -> tuple[AudioInfo, fx.CountingReader]:
    with fx.CountingReader.open(path) as f:
        return probe(f), f


# --- WAV -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("container", "subtype", "rate", "channels"),
    [
        ("WAV", "PCM_16", 16000, 1),
        ("WAV", "PCM_24", 44100, 2),
        ("WAV", "FLOAT", 48000, 2),  # IEEE float, with fact and PEAK chunks before data
        ("WAVEX", "PCM_16", 22050, 2),  # WAVE_FORMAT_EXTENSIBLE
        ("RF64", "PCM_16", 8000, 1),  # ds64 chunk, data size 0xFFFFFFFF
    ],
)
def test_wav_length_is_exact(
    tmp_path: Path, container: str, subtype: str, rate: int, channels: int
) -> None:
    path = tmp_path / "a.wav"
    frames = fx.make_wav(path, 1.2345, rate, channels, subtype, container)
    info = probe_path(path)
    assert info == AudioInfo(frames / rate, rate, channels, "wav", frames)
    assert info.frames == sf.info(str(path)).frames


def test_bw64_is_read_like_rf64(tmp_path: Path) -> None:
    path = tmp_path / "a.wav"
    frames = fx.make_wav(path, 0.5, 8000, 1, container="RF64")
    assert probe_bytes(b"BW64" + path.read_bytes()[4:]).frames == frames


def test_wav_chunks_before_data_and_odd_padding_are_skipped() -> None:
    odd_list = b"INFOISFT\x05\x00\x00\x00asyncml"  # 19 bytes: padded to 20 in the file
    data = bytes(range(256)) * 4 + b"\x01"  # 8-bit mono, odd size, padded too
    wav = fx.wav_bytes(
        rate=11025, bits=8, data=data, before_data=[(b"LIST", odd_list), (b"junk", b"x")]
    )
    wav += b"\0" + b"LIST" + (4).to_bytes(4, "little") + b"INFO"  # pad byte, chunk after data
    info = probe_bytes(wav)
    assert info.frames == len(data)
    assert info.sample_rate == 11025


@pytest.mark.parametrize("size_field", [0, 0xFFFFFFFF])
def test_streamed_wav_counts_the_bytes_present(size_field: int) -> None:
    data = b"\0\1" * 2 * 3000  # 3000 stereo 16-bit frames
    wav = fx.wav_bytes(
        rate=8000, channels=2, data=data, data_size_field=size_field, riff_size_field=size_field
    )
    assert probe_bytes(wav).frames == 3000


def test_wav_cut_short_counts_the_bytes_present() -> None:
    wav = fx.wav_bytes(rate=8000, data=b"\0" * 1000, data_size_field=400_000)
    assert probe_bytes(wav).frames == 500


def test_compressed_wav_uses_the_fact_chunk() -> None:
    fact = (12345).to_bytes(4, "little")
    wav = fx.wav_bytes(codec=0x11, bits=4, data=b"\0" * 5000, before_data=[(b"fact", fact)])
    assert probe_bytes(wav).frames == 12345


def test_ten_minute_wav_is_probed_from_its_header(tmp_path: Path) -> None:
    path = tmp_path / "long.wav"
    frames = fx.make_sparse_wav(path, 600, 44100, 2)
    info, reader = probe_counted(path)
    assert info.frames == frames == sf.info(str(path)).frames
    assert info.duration == 600
    assert reader.bytes_read < 64 * KIB
    assert path.stat().st_size > 100_000_000


# --- AIFF ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("subtype", "rate", "channels"), [("PCM_16", 22050, 2), ("FLOAT", 8000, 1)]
)
def test_aiff_length_is_exact(tmp_path: Path, subtype: str, rate: int, channels: int) -> None:
    path = tmp_path / "a.aiff"
    frames = fx.make_aiff(path, 0.777, rate, channels, subtype)
    assert probe_path(path) == AudioInfo(frames / rate, rate, channels, "aiff", frames)


def test_aiff_ima4_counts_packets_of_64_frames(tmp_path: Path) -> None:
    path = tmp_path / "a.aifc"
    fx.make_aiff(path, 1.0, 8000, 1, "IMA_ADPCM")
    info = probe_path(path)
    assert info.frames == sf.info(str(path)).frames  # whole packets: 8064 for 8000 written
    assert info.duration == info.frames / 8000


# --- FLAC ------------------------------------------------------------------------------


@pytest.mark.parametrize(("rate", "channels"), [(8000, 1), (44100, 2), (96000, 2)])
def test_flac_length_is_exact(tmp_path: Path, rate: int, channels: int) -> None:
    path = tmp_path / "a.flac"
    frames = fx.make_flac(path, 1.2345, rate, channels)
    assert probe_path(path) == AudioInfo(frames / rate, rate, channels, "flac", frames)


@pytest.mark.parametrize("footer", [False, True])
def test_flac_after_an_id3v2_tag(tmp_path: Path, footer: bool) -> None:
    path = tmp_path / "a.flac"
    frames = fx.make_flac(path, 0.5)
    info = probe_bytes(fx.id3v2_tag(footer=footer) + path.read_bytes())
    assert (info.format, info.frames) == ("flac", frames)


@pytest.mark.parametrize(("rate", "channels"), [(16000, 1), (44100, 2)])
def test_flac_without_total_samples_reads_the_last_frame(
    tmp_path: Path, rate: int, channels: int
) -> None:
    path = tmp_path / "a.flac"
    frames = fx.make_flac(path, 2.3456, rate, channels)
    data = bytearray(path.read_bytes())
    # STREAMINFO's 36-bit total sample count: low 4 bits of byte 21, bytes 22-25.
    data[21] &= 0xF0
    data[22:26] = b"\0\0\0\0"
    assert probe_bytes(bytes(data)).frames == frames


# --- Ogg -------------------------------------------------------------------------------


@pytest.mark.parametrize(("rate", "channels"), [(16000, 1), (44100, 2)])
def test_ogg_vorbis_length_is_exact(tmp_path: Path, rate: int, channels: int) -> None:
    path = tmp_path / "a.ogg"
    frames = fx.make_ogg_vorbis(path, 1.2345, rate, channels)
    assert probe_path(path) == AudioInfo(frames / rate, rate, channels, "ogg_vorbis", frames)
    assert mutagen.oggvorbis.OggVorbis(path).info.length == frames / rate


@pytest.mark.parametrize(("rate", "channels"), [(48000, 2), (16000, 1)])
def test_ogg_opus_length_is_exact_at_48k(tmp_path: Path, rate: int, channels: int) -> None:
    path = tmp_path / "a.opus"
    frames = fx.make_ogg_opus(path, 1.2345, rate, channels)
    info = probe_path(path)
    assert (info.format, info.sample_rate, info.channels) == ("ogg_opus", 48000, channels)
    assert info.frames == frames * 48000 // rate
    assert info.duration == pytest.approx(frames / rate, abs=1e-9)
    assert info.duration == pytest.approx(mutagen.oggopus.OggOpus(path).info.length, abs=1e-9)


# --- MP3 -------------------------------------------------------------------------------


def _xing_frames(mp3: bytes) -> int:
    """The frame count of the Xing/Info tag at the start of ``mp3``, as mutagen reads it."""
    offset = max(mp3.find(b"Xing", 0, 64), mp3.find(b"Info", 0, 64))
    assert offset > 0
    return int(XingHeader(io.BytesIO(mp3[offset:])).frames)


@pytest.mark.parametrize(
    ("rate", "channels", "vbr"),
    [(44100, 2, True), (44100, 2, False), (16000, 1, True), (8000, 1, True)],
)
def test_mp3_with_lame_tag_is_exact(tmp_path: Path, rate: int, channels: int, vbr: bool) -> None:
    """The Xing frame count less LAME's encoder delay and padding is the sample count."""
    path = tmp_path / "a.mp3"
    frames = fx.make_mp3(path, 1.5, rate, channels, vbr=vbr)
    assert probe_path(path) == AudioInfo(frames / rate, rate, channels, "mp3", frames)
    assert sf.info(str(path)).frames == frames


def test_mp3_tags_around_the_audio_are_skipped(tmp_path: Path) -> None:
    path = tmp_path / "a.mp3"
    frames = fx.make_mp3(path, 1.0)
    body = path.read_bytes()
    stripped = fx.strip_xing(body)
    walked = probe_bytes(stripped).frames
    for head in (fx.id3v2_tag(), fx.id3v2_tag(footer=True), fx.id3v2_tag() + fx.id3v2_tag()):
        for tail in (b"", fx.id3v1_tag(), fx.apev2_tag() + fx.id3v1_tag()):
            assert probe_bytes(head + body + tail).frames == frames
            assert probe_bytes(head + stripped + tail).frames == walked


@pytest.fixture(scope="module")
def vbr_mp3(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    path = tmp_path_factory.mktemp("mp3") / "vbr.mp3"
    return path, fx.make_mp3(path, 20.0, 44100, 2, vbr=True)


def test_vbr_mp3_without_xing_is_measured_by_walking_every_frame(
    vbr_mp3: tuple[Path, int], tmp_path: Path
) -> None:
    """Without the tag frame the length is the frame count, delay and padding included.

    The walk must find exactly the frames the tag counted. It cannot drop the encoder delay
    and padding (together 1-2 frames) that only the LAME tag records, so the duration is
    within a few frames of the true one. mutagen's size/bitrate estimate, which reads the
    bitrate of the first (silent, 32 kbit/s) frame, is several times too long.
    """
    path, frames = vbr_mp3
    original = path.read_bytes()
    stripped_path = tmp_path / "stripped.mp3"
    stripped_path.write_bytes(fx.strip_xing(original))

    info, reader = probe_counted(stripped_path)

    xing_frames = _xing_frames(original)
    assert info.frames == xing_frames * 1152
    true_seconds = frames / 44100
    assert 0 <= info.duration - true_seconds < 3 * 1152 / 44100
    estimate = mutagen.mp3.MP3(stripped_path).info.length
    assert estimate > 2 * true_seconds
    # The walk reads (nearly) the whole stream, in large reads rather than one per frame.
    size = stripped_path.stat().st_size
    assert reader.bytes_read > 0.9 * size
    assert reader.reads < 40 + size // (32 * KIB)


def test_mp3_with_xing_reads_only_the_first_frames(vbr_mp3: tuple[Path, int]) -> None:
    path, frames = vbr_mp3
    info, reader = probe_counted(path)
    assert info.frames == frames
    assert reader.bytes_read < 16 * KIB < path.stat().st_size // 8


def test_mp3_lame_delay_matches_mutagen(vbr_mp3: tuple[Path, int]) -> None:
    """Cross-check: mutagen's exact Xing+LAME length equals the frames written."""
    path, frames = vbr_mp3
    assert round(mutagen.mp3.MP3(path).info.length * 44100) == frames


def test_joined_mp3s_are_walked_not_taken_from_the_first_tag(vbr_mp3: tuple[Path, int]) -> None:
    path, frames = vbr_mp3
    body = path.read_bytes()
    info = probe_bytes(body + body)
    # The second file's tag frame is walked as a (silent) frame of its own.
    assert info.frames == (2 * _xing_frames(body) + 1) * 1152
    assert info.duration == pytest.approx(2 * frames / 44100, abs=4 * 1152 / 44100)


def test_cut_mp3_is_walked_not_taken_from_its_tag(vbr_mp3: tuple[Path, int]) -> None:
    path, _ = vbr_mp3
    body = path.read_bytes()
    half = body[: len(body) // 2]
    whole = probe_bytes(body).duration
    assert probe_bytes(half).duration < 0.75 * whole


@pytest.mark.parametrize("tail", [fx.id3v1_tag(), fx.apev2_tag(), fx.apev2_tag() + fx.id3v1_tag()])
def test_mp3_walk_stops_where_trailing_tags_begin(tail: bytes) -> None:
    """A last frame cut short is not completed by the bytes of the tag after it."""
    frames = fx.mpeg_frames(10, layer=3, kbps=128)
    assert probe_bytes(frames[:-50] + tail).frames == 9 * 1152


def test_garbage_between_mp3_frames_is_skipped() -> None:
    frames = fx.mpeg_frames(50, layer=3, kbps=128)
    # A broken header (bitrate index 15), random bytes, and sync bits without a header.
    garbage = b"\xff\xfb\xf0\x00" + random.Random(1).randbytes(700) + b"\xff\xff\xff"
    assert probe_bytes(frames + garbage + frames).frames == 100 * 1152


@pytest.mark.parametrize(
    ("version", "layer", "kbps", "rate", "fmt", "spf"),
    [
        (1, 1, 384, 44100, "mp1", 384),
        (1, 2, 128, 44100, "mp2", 1152),
        (1, 2, 192, 48000, "mp2", 1152),
        (2, 2, 64, 22050, "mp2", 1152),
        (2, 3, 64, 24000, "mp3", 576),
        (25, 3, 32, 8000, "mp3", 576),
    ],
)
def test_mpeg_layers_and_versions_are_counted(
    version: int, layer: int, kbps: int, rate: int, fmt: str, spf: int
) -> None:
    data = fx.mpeg_frames(301, version=version, layer=layer, kbps=kbps, rate=rate)
    assert probe_bytes(data) == AudioInfo(301 * spf / rate, rate, 2, fmt, 301 * spf)


# --- MP4 -------------------------------------------------------------------------------


def test_m4a_length_comes_from_the_audio_track(tmp_path: Path) -> None:
    path = tmp_path / "a.m4a"
    fx.make_m4a(path, duration=123_456, timescale=44100, rate=44100, channels=2)
    assert probe_path(path) == AudioInfo(123_456 / 44100, 44100, 2, "m4a", None)


def test_m4a_with_moov_after_a_large_mdat_reads_little(tmp_path: Path) -> None:
    path = tmp_path / "a.m4a"
    fx.make_m4a(path, 48_000 * 600, 48000, 48000, 1, mdat_size=50_000_000, moov_last=True)
    info, reader = probe_counted(path)
    assert (info.duration, info.sample_rate, info.channels) == (600, 48000, 1)
    assert reader.bytes_read < 64 * KIB


def test_mp4_without_an_audio_track_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "a.mp4"
    fx.make_m4a(path, duration=1000, handler=b"vide")
    with pytest.raises(UnsupportedMediaError, match="no audio track"):
        probe_path(path)


# --- How much is read ------------------------------------------------------------------


@pytest.fixture(scope="module")
def long_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, int]]:
    root = tmp_path_factory.mktemp("long")
    flac, vorbis, opus = root / "a.flac", root / "a.ogg", root / "a.opus"
    return {
        "flac": (flac, fx.make_flac(flac, 60.0, 44100, 2, amplitude=0.01)),
        "ogg_vorbis": (vorbis, fx.make_ogg_vorbis(vorbis, 20.0, 44100, 2)),
        "ogg_opus": (opus, fx.make_ogg_opus(opus, 20.0, 48000, 2)),
    }


@pytest.mark.parametrize("fmt", ["flac", "ogg_vorbis", "ogg_opus"])
def test_long_files_are_probed_from_a_few_kib(
    long_files: dict[str, tuple[Path, int]], fmt: str
) -> None:
    path, frames = long_files[fmt]
    info, reader = probe_counted(path)
    assert (info.format, info.frames) == (fmt, frames)
    assert reader.bytes_read < 64 * KIB
    assert path.stat().st_size > 256 * KIB


# --- Refusals --------------------------------------------------------------------------

_NOT_AUDIO = {
    "html": b"<!DOCTYPE html>\n<html><head><title>Not found</title></head></html>\n" * 20,
    "text": b"hello, this is a plain text file, not audio\n" * 50,
    "json": b'{"error": "not found", "status": 404}',
    "png": b"\x89PNG\r\n\x1a\n" + b"\0" * 200,
    "one byte": b"\xff",
    "riff avi": b"RIFF\x00\x10\x00\x00AVI LIST" + b"\0" * 100,
    "truncated wav header": fx.wav_bytes(data=b"\0" * 100)[:20],
    "wav header without data": fx.wav_bytes(data=b"")[:36],
    "zero sample rate": fx.wav_bytes(rate=0, data=b"\0" * 100),
    "zero channels": fx.wav_bytes(channels=0, data=b"\0" * 100),
    "id3 then text": fx.id3v2_tag() + b"just some words, no audio frames here" * 10,
    "ogg with an unknown codec": b"OggS\x00\x02"
    + b"\0" * 20
    + b"\x01\x10"
    + b"\x80theora"
    + b"\0" * 9,
    "flac zero rate": b"fLaC\x80\x00\x00\x22" + b"\0" * 34 + b"\0" * 100,
    "aiff without comm": b"FORM\x00\x00\x00\x0cAIFFSSND\x00\x00\x00\x00",
}


@pytest.mark.parametrize("data", list(_NOT_AUDIO.values()), ids=list(_NOT_AUDIO))
def test_non_audio_is_refused_with_a_short_message(data: bytes) -> None:
    with pytest.raises(UnsupportedMediaError) as caught:
        probe_bytes(data)
    assert caught.value.code == "unsupported_media"
    assert 10 < len(caught.value.message) < 160


def test_html_refusal_says_what_it_got() -> None:
    with pytest.raises(UnsupportedMediaError) as caught:
        probe_bytes(_NOT_AUDIO["html"])
    assert caught.value.message == (
        "not a recognised audio format (got bytes starting with '<!DOCTYPE html>')"
    )


def test_empty_file_is_refused() -> None:
    with pytest.raises(UnsupportedMediaError, match="empty"):
        probe_bytes(b"")


@pytest.mark.parametrize("seed", range(25))
def test_random_bytes_are_refused(seed: int) -> None:
    rng = random.Random(seed)
    data = rng.randbytes(rng.choice([3, 100, 5000, 70_000]))
    with pytest.raises(UnsupportedMediaError):
        probe_bytes(data)


@pytest.fixture(scope="module")
def small_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    root = tmp_path_factory.mktemp("small")
    makers = {
        "wav": lambda p: fx.make_wav(p, 0.3, 8000, 2),
        "aiff": lambda p: fx.make_aiff(p, 0.3, 8000),
        "flac": lambda p: fx.make_flac(p, 0.3, 8000),
        "ogg": lambda p: fx.make_ogg_vorbis(p, 0.3, 8000),
        "opus": lambda p: fx.make_ogg_opus(p, 0.3),
        "mp3": lambda p: fx.make_mp3(p, 0.5, 16000, 1),
        "m4a": lambda p: fx.make_m4a(p, 8000, 8000, 8000, 1),
    }
    files = {}
    for name, make in makers.items():
        path = root / f"a.{name}"
        make(path)
        files[name] = path.read_bytes()
    files["mp3 no xing"] = fx.strip_xing(files["mp3"])
    return files


@pytest.mark.parametrize("seed", range(12))
def test_damaged_files_give_a_length_or_a_refusal(small_files: dict[str, bytes], seed: int) -> None:
    """Cut or corrupted files never escape as anything but ``UnsupportedMediaError``."""
    rng = random.Random(seed)
    for name, data in small_files.items():
        cut = data[: rng.randrange(len(data))]
        damaged = bytearray(data)
        for _ in range(rng.choice([1, 4, 32])):
            damaged[rng.randrange(min(len(data), 600))] = rng.randrange(256)
        for variant in (cut, bytes(damaged)):
            try:
                info = probe_bytes(variant)
            except UnsupportedMediaError:
                continue
            assert info.duration >= 0, name
            assert info.sample_rate > 0 and info.channels > 0, name


# --- The file object's own errors -------------------------------------------------------


class _FailingFile(io.BytesIO):
    """Fails like a remote file whose download breaks after ``ok`` bytes."""

    def __init__(self, data: bytes, ok: int) -> None:
        super().__init__(data)
        self._ok = ok

    def read(self, size: int | None = -1) -> bytes:
        if self.tell() + (size if size is not None and size >= 0 else 1) > self._ok:
            raise DownloadError("connection reset")
        return super().read(size)


@pytest.mark.parametrize(("name", "ok"), [("mp3 no xing", 0.5), ("ogg", 0.5), ("m4a", 100)])
def test_errors_of_the_file_object_propagate(
    small_files: dict[str, bytes], name: str, ok: float
) -> None:
    """A failing download is not mistaken for a bad file, even inside mutagen."""
    data = small_files[name]
    f = _FailingFile(data, ok=int(len(data) * ok) if ok < 1 else int(ok))
    with pytest.raises(DownloadError):
        probe(f)
