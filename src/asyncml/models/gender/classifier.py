"""The trained classifier: a logistic regression read from JSON, applied with numpy alone.

``model.json`` holds the feature names it uses, their normalisation (mean, scale), the
coefficients and intercept, and how it was trained; ``scripts/train_gender.py`` writes it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from asyncml.models.gender.features import FEATURE_NAMES

ARTIFACT_PATH = Path(__file__).parent / "data" / "model.json"
FORMAT = "asyncml.gender/1"


@dataclass(frozen=True)
class LogisticModel:
    """P(male) = sigmoid(coef . (x[features] - mean) / scale + intercept), calibrated on
    held-out speakers; an answer less sure than ``min_confidence`` is withheld."""

    features: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float
    meta: dict[str, Any]
    min_confidence: float = 0.5

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LogisticModel:
        if data.get("format") != FORMAT:
            raise ValueError(f"not a {FORMAT} artifact: format={data.get('format')!r}")
        features = tuple(data["features"])
        unknown = set(features) - set(FEATURE_NAMES)
        if unknown:
            raise ValueError(f"artifact uses unknown features {sorted(unknown)}")
        mean, scale, coef = (
            np.asarray(data[k], dtype=np.float64) for k in ("mean", "scale", "coef")
        )
        if any(a.shape != (len(features),) for a in (mean, scale, coef)):
            raise ValueError("mean, scale and coef must each have one value per feature")
        min_confidence = float(data.get("min_confidence", 0.5))
        if not 0.5 <= min_confidence < 1:
            raise ValueError("min_confidence must be in [0.5, 1)")
        return cls(
            features,
            mean,
            scale,
            coef,
            float(data["intercept"]),
            dict(data.get("meta", {})),
            min_confidence,
        )

    @classmethod
    def load(cls, path: Path = ARTIFACT_PATH) -> LogisticModel:
        return cls.from_dict(json.loads(path.read_text()))

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "features": list(self.features),
            "mean": self.mean.tolist(),
            "scale": self.scale.tolist(),
            "coef": self.coef.tolist(),
            "intercept": self.intercept,
            "min_confidence": self.min_confidence,
            "meta": self.meta,
        }

    def columns(self) -> list[int]:
        return [FEATURE_NAMES.index(name) for name in self.features]

    def prob_male(self, rows: np.ndarray) -> np.ndarray:
        """P(male) for each row of full feature vectors (FEATURE_NAMES order), shape (n,)."""
        x = (np.atleast_2d(rows)[:, self.columns()] - self.mean) / self.scale
        z = x @ self.coef + self.intercept
        p: np.ndarray = 1.0 / (1.0 + np.exp(-z))
        return p
