"""The result of probing an audio file."""

from __future__ import annotations

import math
from dataclasses import dataclass

from asyncml.errors import UnsupportedMediaError

__all__ = ["AudioInfo", "audio_info"]


@dataclass(frozen=True)
class AudioInfo:
    """How long an audio stream plays, and its basic shape.

    ``format`` names the container and codec family: ``"wav"`` (RIFF, RF64 and BW64),
    ``"aiff"``, ``"flac"``, ``"ogg_vorbis"``, ``"ogg_opus"``, ``"ogg_flac"``, ``"ogg_speex"``,
    ``"mp3"``, ``"mp2"``, ``"mp1"`` or ``"m4a"``. ``frames`` is the number of sample frames
    per channel at ``sample_rate`` when the file states it exactly, else ``None``. Opus
    always decodes at 48 kHz, so Ogg Opus reports 48000 whatever rate was encoded.
    """

    duration: float
    sample_rate: int
    channels: int
    format: str
    frames: int | None


def audio_info(
    fmt: str,
    *,
    sample_rate: float,
    channels: int,
    frames: int | None = None,
    duration: float | None = None,
) -> AudioInfo:
    """Build an ``AudioInfo``, refusing headers that cannot describe playable audio.

    ``duration`` defaults to ``frames / sample_rate``; pass it for formats whose length is
    not a whole number of frames at ``sample_rate`` (AIFF's non-integer rates, MP4).
    """
    if not (math.isfinite(sample_rate) and sample_rate >= 1):
        raise UnsupportedMediaError(f"the {fmt} header declares an invalid sample rate")
    if channels < 1:
        raise UnsupportedMediaError(f"the {fmt} header declares no audio channels")
    if frames is not None and frames < 0:
        raise UnsupportedMediaError(f"the {fmt} header declares a negative length")
    if duration is None:
        if frames is None:
            raise ValueError("audio_info needs frames or duration")
        duration = frames / sample_rate
    if not (math.isfinite(duration) and duration >= 0):
        raise UnsupportedMediaError(f"the {fmt} header declares an invalid length")
    return AudioInfo(
        duration=duration,
        sample_rate=round(sample_rate),
        channels=channels,
        format=fmt,
        frames=frames,
    )
