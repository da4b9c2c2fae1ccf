"""Speaker gender of a clip: VAD, then pitch and formants of the speech, then the classifier.

Audio with no usable speech (silence, noise, music, a steady tone) gets ``gender=None`` and
a ``reason`` rather than a guess; so does a voice the classifier is unsure about
(``reason="uncertain"``: calibrated confidence below the artifact's ``min_confidence``).
Several clips can be run together (``predict_batch``): the
classifier then sees every clip's and every segment's features in one matrix.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import soxr

from asyncml.models.gender.classifier import LogisticModel
from asyncml.models.gender.features import VoiceSummary, VoiceTrack, summarise, track
from asyncml.models.gender.vad import RATE, SpeechDetector, SpeechSegment, speech_segments

MIN_SPEECH_S = 0.5  # less speech than this is no basis for an answer
MIN_F0_SPREAD_ST = 0.5  # speech has intonation; a held tone or a hum has next to none
MIN_SEGMENT_S = 1.0  # shorter segments are listed without a gender of their own
MAX_SEGMENTS = 200  # segments listed in a result


@dataclass(frozen=True)
class SegmentResult:
    start: float
    end: float
    gender: str | None
    confidence: float | None
    median_f0_hz: float | None


@dataclass(frozen=True)
class GenderResult:
    gender: str | None  # "male", "female", or None with a reason
    confidence: float | None  # probability of the answer given, 0.5-1
    median_f0_hz: float | None
    speech_seconds: float
    reason: str | None = None
    segments: list[SegmentResult] = field(default_factory=list)


def prepare(samples: np.ndarray, rate: int) -> np.ndarray:
    """Mono float32 at 16 kHz from ``samples`` of shape (frames,) or (frames, channels)."""
    audio = np.asarray(samples, dtype=np.float32)
    if audio.ndim == 2:
        audio = audio.mean(axis=1)
    if rate != RATE and audio.size:
        audio = soxr.resample(audio, rate, RATE)
    return np.ascontiguousarray(audio, dtype=np.float32)


def _label(p_male: float) -> tuple[str, float]:
    return ("male", p_male) if p_male >= 0.5 else ("female", 1.0 - p_male)


def _sure(p_male: float, min_confidence: float) -> tuple[str | None, float | None]:
    """The answer, or (None, None) when it is less sure than ``min_confidence``."""
    gender, confidence = _label(p_male)
    return (gender, confidence) if confidence >= min_confidence else (None, None)


@dataclass(frozen=True)
class Analysis:
    """What the classifier is given about one clip: its speech segments, the features of
    all its speech (``overall``) and of each segment long enough (``parts``)."""

    segments: list[SpeechSegment]
    voice: VoiceTrack | None  # None: too little speech to measure
    overall: VoiceSummary | None
    parts: list[VoiceSummary | None]

    @property
    def usable(self) -> bool:
        o = self.overall
        return o is not None and o.f0_spread_st >= MIN_F0_SPREAD_ST


def analyse(detector: SpeechDetector, audio: np.ndarray) -> Analysis:
    """Speech segments and voice features of 16 kHz mono ``audio`` (see ``prepare``)."""
    probs = detector.probabilities(audio)
    segments = speech_segments(probs, total=audio.size)
    if sum(s.seconds for s in segments) < MIN_SPEECH_S:
        return Analysis(segments, None, None, [])
    voice = track(audio)
    overall = summarise(voice, segments)
    if overall is None or overall.f0_spread_st < MIN_F0_SPREAD_ST:
        return Analysis(segments, voice, overall, [])
    parts = [
        summarise(voice, [s]) if s.seconds >= MIN_SEGMENT_S else None
        for s in segments[:MAX_SEGMENTS]
    ]
    return Analysis(segments, voice, overall, parts)


class GenderModel:
    """The VAD and the classifier, loaded once and reused for every clip."""

    def __init__(self, classifier: LogisticModel, detector: SpeechDetector) -> None:
        self.classifier = classifier
        self.detector = detector

    @classmethod
    def load(cls) -> GenderModel:
        return cls(LogisticModel.load(), SpeechDetector())

    def predict(self, samples: np.ndarray, rate: int) -> GenderResult:
        return self.predict_batch([(samples, rate)])[0]

    def predict_batch(self, clips: Sequence[tuple[np.ndarray, int]]) -> list[GenderResult]:
        analysed = [analyse(self.detector, prepare(samples, rate)) for samples, rate in clips]
        rows = [
            s.values for c in analysed if c.usable for s in (c.overall, *c.parts) if s is not None
        ]
        probs: Iterator[float] = iter(
            self.classifier.prob_male(np.array(rows)).tolist() if rows else []
        )
        return [self._result(clip, probs) for clip in analysed]

    def _result(self, clip: Analysis, probs: Iterator[float]) -> GenderResult:
        speech = round(sum(s.seconds for s in clip.segments), 3)
        overall = clip.overall
        if clip.voice is None:
            return GenderResult(None, None, None, speech, reason="no_speech")
        if overall is None:
            return GenderResult(None, None, None, speech, reason="no_voiced_speech")
        median_f0 = round(overall.median_f0_hz, 1)
        if overall.f0_spread_st < MIN_F0_SPREAD_ST:
            return GenderResult(None, None, median_f0, speech, reason="not_speech_like")
        floor = self.classifier.min_confidence
        gender, confidence = _sure(next(probs), floor)
        segments = []
        for seg, part in zip(clip.segments[:MAX_SEGMENTS], clip.parts, strict=True):
            label: tuple[str | None, float | None] = (None, None)
            if part is not None:
                label = _sure(next(probs), floor)
            segments.append(
                SegmentResult(
                    start=round(seg.start / RATE, 3),
                    end=round(seg.end / RATE, 3),
                    gender=label[0],
                    confidence=None if label[1] is None else round(label[1], 4),
                    median_f0_hz=None if part is None else round(part.median_f0_hz, 1),
                )
            )
        if gender is None or confidence is None:
            return GenderResult(None, None, median_f0, speech, "uncertain", segments)
        return GenderResult(gender, round(confidence, 4), median_f0, speech, None, segments)


_lock = threading.Lock()
_shared: tuple[int, GenderModel] | None = None


def shared_model() -> GenderModel:
    """This process's model, loaded on first use (after a fork, loaded again: ONNX Runtime
    sessions are not to be shared across processes)."""
    global _shared
    with _lock:
        if _shared is None or _shared[0] != os.getpid():
            _shared = (os.getpid(), GenderModel.load())
        return _shared[1]
