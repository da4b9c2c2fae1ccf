"""Where the speech is: Silero VAD (its ONNX sequence export) on 16 kHz mono audio.

The sequence export runs the VAD's LSTM over a block of 32 ms frames in one ONNX call, so a
whole clip costs a handful of calls instead of one per frame. Its per-frame probabilities
are the streaming model's, bit for bit. The model file is vendored with its MIT licence
(``data/SILERO_VAD_LICENSE``); onnxruntime and numpy are all it needs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort

RATE = 16000
FRAME = 512  # samples per VAD frame: 32 ms
CONTEXT = 64  # samples of the previous frame the model sees before each frame
MAX_FRAMES = 512  # frames per ONNX call: about 16 s
MODEL_PATH = Path(__file__).parent / "data" / "silero_vad.onnx"


@dataclass(frozen=True)
class SpeechSegment:
    """A stretch of speech, in samples at 16 kHz: ``[start, end)``."""

    start: int
    end: int

    @property
    def seconds(self) -> float:
        return (self.end - self.start) / RATE


class SpeechDetector:
    """Per-frame speech probabilities and the speech segments they imply."""

    def __init__(self, path: Path = MODEL_PATH) -> None:
        options = ort.SessionOptions()
        # One thread: a worker runs one job per process, and processes are the parallelism.
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        self._session = ort.InferenceSession(
            str(path), sess_options=options, providers=["CPUExecutionProvider"]
        )

    def probabilities(self, audio: np.ndarray) -> np.ndarray:
        """Speech probability of each 32 ms frame of 16 kHz mono ``audio``."""
        count = -(-audio.size // FRAME)
        if count == 0:
            return np.zeros(0, dtype=np.float32)
        frames = np.zeros((count, FRAME), dtype=np.float32)
        frames.reshape(-1)[: audio.size] = audio
        contexts = np.zeros((count, CONTEXT), dtype=np.float32)
        contexts[1:] = frames[:-1, -CONTEXT:]
        blocks = np.concatenate((contexts, frames), axis=1)
        hidden = np.zeros((1, 1, 128), dtype=np.float32)
        cell = np.zeros((1, 1, 128), dtype=np.float32)
        out = []
        for first in range(0, count, MAX_FRAMES):
            probs, hidden, cell = self._session.run(
                ["speech_probs", "hn", "cn"],
                {"input": blocks[first : first + MAX_FRAMES], "h": hidden, "c": cell},
            )
            out.append(probs)
        return np.concatenate(out).reshape(-1).astype(np.float32)


def speech_segments(
    probs: np.ndarray,
    *,
    total: int,
    threshold: float = 0.5,
    release: float = 0.35,
    min_speech_ms: int = 250,
    min_silence_ms: int = 100,
    pad_ms: int = 30,
) -> list[SpeechSegment]:
    """Speech segments from frame probabilities, with hysteresis (enter above ``threshold``,
    leave after ``min_silence_ms`` below ``release``), as Silero's own post-processing does."""
    frame_ms = FRAME * 1000 / RATE
    min_silence = max(1, round(min_silence_ms / frame_ms))
    spans: list[tuple[int, int]] = []
    start: int | None = None
    quiet = 0
    for i, p in enumerate(probs):
        if start is None:
            if p >= threshold:
                start, quiet = i, 0
            continue
        if p < release:
            quiet += 1
            if quiet >= min_silence:
                spans.append((start, i - quiet + 1))
                start = None
        else:
            quiet = 0
    if start is not None:
        spans.append((start, len(probs)))
    pad = pad_ms * RATE // 1000
    min_len = min_speech_ms * RATE // 1000
    segments: list[SpeechSegment] = []
    for first, last in spans:
        begin = max(0, first * FRAME - pad)
        end = min(total, last * FRAME + pad)
        if end - begin - 2 * pad < min_len:
            continue
        if segments and begin <= segments[-1].end:
            segments[-1] = SpeechSegment(segments[-1].start, end)
        else:
            segments.append(SpeechSegment(begin, end))
    return segments
