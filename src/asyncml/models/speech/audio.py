"""Audio bytes to 16 kHz mono float32, decoded and resampled block by block.

libsndfile (via soundfile) reads WAV, FLAC, Ogg Vorbis/Opus, MP3, AIFF and more; soxr's
streaming resampler converts each block, so a long file never exists at its original rate
in memory. Only the first ``max_seconds`` are kept.
"""

from __future__ import annotations

import io

import numpy as np
import soundfile as sf
import soxr

from asyncml.errors import UnsupportedMediaError

RATE = 16000
BLOCK_S = 30.0


def decode(data: bytes, *, max_seconds: float) -> tuple[np.ndarray, float]:
    """16 kHz mono samples of the first ``max_seconds`` of ``data``, and the whole file's
    duration in seconds (from its header; longer than the samples when cut)."""
    try:
        with sf.SoundFile(io.BytesIO(data)) as f:
            rate = int(f.samplerate)
            duration = f.frames / rate if f.frames > 0 else 0.0
            stream = soxr.ResampleStream(rate, RATE, 1, dtype="float32")
            out: list[np.ndarray] = []
            left = int(max_seconds * rate)
            while left > 0:
                block = f.read(min(left, int(BLOCK_S * rate)), dtype="float32", always_2d=True)
                if not len(block):
                    break
                left -= len(block)
                out.append(stream.resample_chunk(block.mean(axis=1), last=False))
            out.append(stream.resample_chunk(np.zeros(0, dtype=np.float32), last=True))
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as exc:
        raise UnsupportedMediaError(f"not an audio format asyncml can decode ({exc})") from None
    samples = np.ascontiguousarray(np.concatenate(out), dtype=np.float32)
    return samples, max(duration, samples.size / RATE)
