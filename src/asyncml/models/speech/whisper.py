"""The one module that knows faster-whisper: a Whisper model loaded once, used per clip.

Segments come out of faster-whisper's generator one 30-second window at a time, so a
long recording reports progress as it goes and can stop early when its job is canceled.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from asyncml.models.speech.audio import RATE
from asyncml.models.speech.bundled import EXTRA_HINT


class LanguageNotSupportedError(ValueError):
    """A language was asked of a model that does not know it (an English-only model)."""


@dataclass(frozen=True)
class Segment:
    start: float
    end: float
    text: str


@dataclass(frozen=True)
class Transcript:
    language: str
    language_probability: float  # 1.0 when the language was given or the model knows one
    text: str
    duration: float
    segments: list[Segment] = field(default_factory=list)
    complete: bool = True  # False when stopped early (``should_stop``)


# (seconds done, seconds in all) after each segment; True from should_stop ends the loop.
ProgressCallback = Callable[[float, float], None]


class Transcriber:
    """A CTranslate2 Whisper model on the CPU (int8), loaded once per process."""

    def __init__(self, directory: Path, *, cpu_threads: int = 1, beam_size: int = 5) -> None:
        try:
            from faster_whisper import WhisperModel
        except ImportError as exc:
            raise ImportError(f"faster-whisper is missing ({exc}); {EXTRA_HINT}") from None

        self.directory = directory
        self.beam_size = beam_size
        self._model = WhisperModel(
            str(directory),
            device="cpu",
            compute_type="int8",
            cpu_threads=cpu_threads,
            num_workers=1,
            local_files_only=True,
        )
        self.multilingual = bool(self._model.model.is_multilingual)
        self.languages: tuple[str, ...] = tuple(self._model.supported_languages)

    def identify(self, audio: np.ndarray) -> list[tuple[str, float]]:
        """Languages of 16 kHz mono ``audio`` (its first 30 s), most probable first; an
        English-only model answers English."""
        if not self.multilingual:
            return [("en", 1.0)]
        _, _, ranked = self._model.detect_language(audio)
        return [(code, round(float(p), 4)) for code, p in ranked]

    def transcribe(
        self,
        audio: np.ndarray,
        *,
        language: str | None = None,
        on_progress: ProgressCallback | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> Transcript:
        """Text and segments of 16 kHz mono ``audio``; the language is identified when not
        given (multilingual models only)."""
        if language is not None and language not in self.languages:
            raise LanguageNotSupportedError(
                f"this speech model knows {', '.join(self.languages[:5])}"
                f"{' and more' if len(self.languages) > 5 else ''}, not {language!r}"
            )
        if not self.multilingual:
            language = language or "en"
        pieces, info = self._model.transcribe(
            audio,
            language=language,
            beam_size=self.beam_size,
            condition_on_previous_text=False,
        )
        total = audio.size / RATE
        segments: list[Segment] = []
        complete = True
        for piece in pieces:
            text = piece.text.strip()
            if text:
                segments.append(Segment(round(piece.start, 2), round(piece.end, 2), text))
            if on_progress is not None:
                on_progress(min(piece.end, total), total)
            if should_stop is not None and should_stop():
                complete = False
                break
        return Transcript(
            language=info.language,
            language_probability=round(float(info.language_probability), 4),
            text=" ".join(s.text for s in segments),
            duration=round(total, 3),
            segments=segments,
            complete=complete,
        )
