"""Audio bytes to samples, with libsndfile (via soundfile): WAV, FLAC, Ogg, MP3, AIFF, ...

Only the first ``max_seconds`` are decoded, so a long file costs bounded memory and time.
"""

from __future__ import annotations

import io

import numpy as np
import soundfile as sf

from asyncml.errors import UnsupportedMediaError

MAX_SECONDS = 600.0


def decode(data: bytes, *, max_seconds: float = MAX_SECONDS) -> tuple[np.ndarray, int]:
    """Samples, shape (frames, channels) float32, and the sample rate of the first
    ``max_seconds`` of ``data``."""
    try:
        with sf.SoundFile(io.BytesIO(data)) as f:
            rate = int(f.samplerate)
            frames = f.read(int(max_seconds * rate), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as exc:
        raise UnsupportedMediaError(f"not an audio format asyncml can decode ({exc})") from None
    return frames, rate
