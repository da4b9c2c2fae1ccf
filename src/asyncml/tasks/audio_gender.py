"""``audio.gender``: the speaker's gender as the voice suggests it, with a confidence."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

import asyncml
from asyncml.tasks.audio_length import AudioUrl

Gender = Literal["male", "female"]


class GenderSegment(BaseModel):
    start: float = Field(description="seconds from the start of the audio")
    end: float
    gender: Gender | None = Field(
        description="null for a segment too short to judge alone, or too ambiguous"
    )
    confidence: float | None = None
    median_f0_hz: float | None = None


class AudioGender(BaseModel):
    gender: Gender | None = Field(
        description="the speaker's gender as the voice suggests it; null when there is no "
        "usable speech or the voice is ambiguous (see reason)"
    )
    confidence: float | None = Field(
        description="calibrated probability of the answer given (0.5-1); null with no answer"
    )
    median_f0_hz: float | None = Field(description="median pitch of the voiced speech")
    speech_seconds: float = Field(description="seconds of speech found")
    reason: Literal["no_speech", "no_voiced_speech", "not_speech_like", "uncertain"] | None = Field(
        default=None, description="why gender is null"
    )
    segments: list[GenderSegment] | None = Field(
        default=None, description="speech segments, each judged alone when long enough"
    )


@asyncml.task("audio.gender", queue="audio")
class AudioGenderTask:
    """Speaker gender (male/female, with a confidence) of the speech at a URL; null with a
    reason when there is no usable speech."""

    model: Any

    def setup(self) -> None:
        # Here, not at import: onnxruntime and Praat cost ~100 MB per process, paid only by
        # a process that gets a gender job.
        from asyncml.models.gender import shared_model

        self.model = shared_model()

    def run(self, input: AudioUrl, ctx: asyncml.Context) -> AudioGender:
        from asyncml.models.gender.decode import decode

        # The whole file is needed (a decode, not a header probe); the egress byte cap holds.
        with ctx.open(str(input.url)) as remote:
            data = remote.read()
        samples, rate = decode(data)
        result = self.model.predict(samples, rate)
        return AudioGender.model_validate(result, from_attributes=True)
