"""``audio.length``: duration, sample rate, channels and format, read from the header."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

import asyncml
from asyncml.models.audio import probe
from asyncml.schemas import InputUrl


class AudioUrl(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: InputUrl


class AudioLength(BaseModel):
    audio_length: float = Field(description="duration in seconds")
    sample_rate: int
    channels: int
    format: str
    frames: int | None = None
    bytes_fetched: int = Field(description="bytes downloaded to answer")


@asyncml.task("audio.length", queue="audio")
class AudioLengthTask:
    """Duration, sample rate, channels and format of the audio at a URL.

    Reads only what the header needs, with HTTP Range requests where the server has them.
    """

    def run(self, input: AudioUrl, ctx: asyncml.Context) -> AudioLength:
        with ctx.open(str(input.url)) as remote:
            info = probe(remote)
        # Read after closing: what close() drains to keep the connection is received too.
        return AudioLength(
            audio_length=info.duration,
            sample_rate=info.sample_rate,
            channels=info.channels,
            format=info.format,
            frames=info.frames,
            bytes_fetched=remote.bytes_fetched,
        )
