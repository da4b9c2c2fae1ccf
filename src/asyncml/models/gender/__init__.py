"""Speaker gender from speech: a small model trained by ``scripts/train_gender.py``.

    model = GenderModel.load()          # or shared_model(): one per process
    result = model.predict(samples, sample_rate)
    result.gender, result.confidence    # "female", 0.97 ... or None with result.reason

Silero VAD finds the speech, Praat measures its pitch and formants, and a logistic
regression shipped as JSON (``data/model.json``) turns them into P(male). No web, queue or
training imports here: numpy, soxr, praat-parselmouth and onnxruntime only.
"""

from asyncml.models.gender.model import (
    GenderModel,
    GenderResult,
    SegmentResult,
    prepare,
    shared_model,
)

__all__ = ["GenderModel", "GenderResult", "SegmentResult", "prepare", "shared_model"]
