"""``audio.transcribe``: what is said in the audio at a URL, in which language, with timed
segments (Whisper through faster-whisper; the ``speech`` extra)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

import asyncml
from asyncml.models.speech.languages import WHISPER_LANGUAGES
from asyncml.schemas import InputUrl

Language = Literal[WHISPER_LANGUAGES]  # type: ignore[valid-type]


class TranscribeInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: InputUrl
    language: Language | None = Field(
        default=None,
        description="the spoken language (Whisper's code, e.g. 'en'); omitted: identified",
    )


class TranscriptSegment(BaseModel):
    start: float = Field(description="seconds from the start of the audio")
    end: float
    text: str


class Transcription(BaseModel):
    language: str = Field(description="the language given, or the one identified")
    language_probability: float = Field(
        description="the model's probability of that language; 1.0 when it was given"
    )
    text: str
    segments: list[TranscriptSegment]
    duration: float = Field(description="seconds of audio transcribed")


@asyncml.task("audio.transcribe", queue="speech")
class AudioTranscribeTask:
    """Text, timed segments and language of the speech at a URL (Whisper, on the CPU)."""

    transcriber: Any
    max_seconds: float

    def setup(self) -> None:
        # Here, not at import: faster-whisper and the model (~150 MB) are loaded only by a
        # worker process of the speech queue, once.
        from asyncml.models.speech.bundled import model_dir
        from asyncml.models.speech.whisper import Transcriber
        from asyncml.settings import Settings

        settings = Settings()
        directory = model_dir(settings.speech_model, cache=settings.data_dir / "models")
        self.transcriber = Transcriber(
            directory, cpu_threads=settings.speech_threads, beam_size=settings.speech_beam_size
        )
        self.max_seconds = settings.speech_max_seconds

    def run(self, input: TranscribeInput, ctx: asyncml.Context) -> Transcription:
        from asyncml.models.speech.audio import decode
        from asyncml.models.speech.whisper import LanguageNotSupportedError

        with ctx.open(str(input.url)) as remote:
            data = remote.read()
        audio, _ = decode(data, max_seconds=self.max_seconds)
        if audio.size == 0:
            raise asyncml.TaskError("no_audio", "the file holds no audio samples")
        try:
            transcript = self.transcriber.transcribe(
                audio,
                language=input.language,
                on_progress=lambda done, total: ctx.progress(
                    round(done, 1), total=round(total, 1), message="seconds transcribed"
                ),
                should_stop=lambda: ctx.cancelled,
            )
        except LanguageNotSupportedError as exc:
            raise asyncml.TaskError("unsupported_language", str(exc)) from None
        return Transcription.model_validate(transcript, from_attributes=True)
