"""Fitting and held-out evaluation of the gender classifier (scikit-learn, training only).

- ``fit``: standardise, then an L2 logistic regression with balanced class weights;
- ``held_out``: P(male) of every item from a model trained without its group (its speaker:
  leave-one-speaker-out; or its engine);
- ``platt``/``calibrate_held_out``: a Platt scaling of the real speakers' held-out
  log-odds (nested: each speaker's figures from a scaling fitted without it), folded into
  the shipped coefficients so that the run-time code stays one dot product.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from asyncml.models.gender.classifier import LogisticModel
from asyncml.models.gender.features import FEATURE_NAMES


def fit(
    x: np.ndarray, y: np.ndarray, names: tuple[str, ...], c: float, weights: np.ndarray | None
) -> LogisticModel:
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    cols = [FEATURE_NAMES.index(n) for n in names]
    scaler = StandardScaler().fit(x[:, cols])
    lr = LogisticRegression(C=c, class_weight="balanced", max_iter=2000)
    lr.fit(scaler.transform(x[:, cols]), y, sample_weight=weights)
    return LogisticModel(
        features=names,
        mean=scaler.mean_,
        scale=scaler.scale_,
        coef=lr.coef_[0],
        intercept=float(lr.intercept_[0]),
        meta={},
    )


def weights_of(items: list[Any], real_weight: float) -> np.ndarray:
    """Each clip's weight in training: real clips count ``real_weight`` times a synthetic
    one (there are fewer real speakers, and they are what the model is for)."""
    return np.array([real_weight if i.source == "real" else 1.0 for i in items])


def train(items: list[Any], names: tuple[str, ...], c: float, real_weight: float) -> LogisticModel:
    usable = [i for i in items if i.features is not None]
    x = np.array([i.features for i in usable])
    y = np.array([i.sex == "male" for i in usable], dtype=int)
    return fit(x, y, names, c, weights_of(usable, real_weight))


def held_out(
    items: list[Any], key: str, names: tuple[str, ...], c: float, real_weight: float = 1.0
) -> np.ndarray:
    """P(male) of each item from a model trained without its group (``speaker`` or
    ``engine``); NaN where the item has no features."""
    probs = np.full(len(items), np.nan)
    for group in sorted({getattr(i, key) for i in items}):
        model = train([i for i in items if getattr(i, key) != group], names, c, real_weight)
        test = [k for k, i in enumerate(items) if getattr(i, key) == group and i.features]
        if test:
            probs[test] = model.prob_male(np.array([items[k].features for k in test]))
    return probs


def _logit(p: np.ndarray) -> np.ndarray:
    q = np.clip(p, 1e-6, 1 - 1e-6)
    return np.asarray(np.log(q / (1 - q)))


def platt(probs: np.ndarray, items: list[Any]) -> tuple[float, float]:
    """(a, b) such that sigmoid(a * logit(p) + b) is calibrated on these held-out answers,
    each speaker weighted equally."""
    from sklearn.linear_model import LogisticRegression

    ok = ~np.isnan(probs)
    speakers = [i.speaker for i, k in zip(items, ok, strict=True) if k]
    counts = {s: speakers.count(s) for s in set(speakers)}
    lr = LogisticRegression(C=1e6, max_iter=1000)
    lr.fit(
        _logit(probs[ok])[:, None],
        np.array([i.sex == "male" for i, k in zip(items, ok, strict=True) if k], dtype=int),
        sample_weight=np.array([1.0 / counts[s] for s in speakers]),
    )
    return float(lr.coef_[0][0]), float(lr.intercept_[0])


def calibrate_held_out(probs: np.ndarray, items: list[Any]) -> tuple[np.ndarray, float, float]:
    """Calibrate held-out answers on the real speakers: the (a, b) to ship are fitted on
    every real speaker's held-out answers; each real speaker's own answers are calibrated
    by an (a, b) fitted without that speaker, so no figure reported for a real speaker
    comes from a fit that saw it. Synthetic items get the shipped (a, b)."""
    real = [k for k, i in enumerate(items) if i.source == "real"]
    a, b = platt(probs[real], [items[k] for k in real])
    out = recalibrate(probs, a, b)
    for speaker in sorted({items[k].speaker for k in real}):
        rest = [k for k in real if items[k].speaker != speaker]
        mine = [k for k in real if items[k].speaker == speaker]
        a_s, b_s = platt(probs[rest], [items[k] for k in rest])
        out[mine] = recalibrate(probs[mine], a_s, b_s)
    return out, a, b


def recalibrate(probs: np.ndarray, a: float, b: float) -> np.ndarray:
    out = np.full(len(probs), np.nan)
    ok = ~np.isnan(probs)
    out[ok] = 1 / (1 + np.exp(-(a * _logit(probs[ok]) + b)))
    return out


def fold(model: LogisticModel, a: float, b: float, **extra: Any) -> LogisticModel:
    """``model`` with the calibration folded in: logit' = a * logit + b."""
    return LogisticModel(
        model.features,
        model.mean,
        model.scale,
        model.coef * a,
        model.intercept * a + b,
        meta=extra.pop("meta", {}),
        **extra,
    )


def withhold(probs: np.ndarray, min_confidence: float) -> np.ndarray:
    """NaN (no answer) where the answer is less sure than ``min_confidence``."""
    out = probs.copy()
    out[np.maximum(probs, 1 - probs) < min_confidence] = np.nan
    return out
