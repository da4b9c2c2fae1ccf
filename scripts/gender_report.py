"""Metrics and the evaluation report of the gender model (JSON and Markdown)."""

from __future__ import annotations

import itertools
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any

import numpy as np

LABELS = ("female", "male")


def _pred(p: float) -> str:
    if np.isnan(p):
        return "none"
    return "male" if p >= 0.5 else "female"


def accuracy(items: list[Any], probs: np.ndarray) -> float:
    """Share of items answered correctly; no answer counts as wrong."""
    return round(float(np.mean([_pred(p) == i.sex for i, p in zip(items, probs, strict=True)])), 4)


def metrics(items: list[Any], probs: np.ndarray) -> dict[str, Any]:
    preds = [_pred(p) for p in probs]
    truth = [i.sex for i in items]
    confusion = {
        t: dict(Counter(p for p, tt in zip(preds, truth, strict=True) if tt == t))
        for t in LABELS
        if t in truth
    }
    recalls = [
        np.mean([p == t for p, tt in zip(preds, truth, strict=True) if tt == t])
        for t in LABELS
        if t in truth
    ]
    answered = ~np.isnan(probs)
    out: dict[str, Any] = {
        "n": len(items),
        "answered": int(answered.sum()),
        "accuracy": accuracy(items, probs),
        "balanced_accuracy": round(float(np.mean(recalls)), 4) if recalls else None,
        "confusion": confusion,
    }
    if answered.any():
        out["calibration"] = calibration(
            probs[answered],
            np.array([t == "male" for t, a in zip(truth, answered, strict=True) if a]),
        )
    return out


def calibration(p_male: np.ndarray, is_male: np.ndarray, bins: int = 5) -> dict[str, Any]:
    """Brier score, log loss and expected calibration error of the answer's confidence."""
    p = np.clip(p_male, 1e-6, 1 - 1e-6)
    confidence = np.maximum(p, 1 - p)
    correct = (p >= 0.5) == is_male
    edges = np.linspace(0.5, 1.0, bins + 1)
    table = []
    ece = 0.0
    for lo, hi in itertools.pairwise(edges):
        sel = (confidence >= lo) & ((confidence < hi) if hi < 1 else (confidence <= hi))
        if not sel.any():
            continue
        gap = abs(confidence[sel].mean() - correct[sel].mean())
        ece += sel.mean() * gap
        table.append(
            {
                "bin": f"{lo:.1f}-{hi:.1f}",
                "n": int(sel.sum()),
                "mean_confidence": round(float(confidence[sel].mean()), 3),
                "accuracy": round(float(correct[sel].mean()), 3),
            }
        )
    return {
        "brier": round(float(np.mean((p - is_male) ** 2)), 4),
        "log_loss": round(float(-np.mean(np.where(is_male, np.log(p), np.log(1 - p)))), 4),
        "ece": round(float(ece), 4),
        "reliability": table,
    }


def grouped(items: list[Any], probs: np.ndarray, key: str) -> dict[str, dict[str, Any]]:
    groups: dict[str, list[int]] = defaultdict(list)
    for k, item in enumerate(items):
        groups[getattr(item, key)].append(k)
    out = {}
    for name, idx in sorted(groups.items()):
        sub = [items[k] for k in idx]
        p = probs[idx]
        answered = p[~np.isnan(p)]
        out[name] = {
            "sex": sub[0].sex if len({i.sex for i in sub}) == 1 else "both",
            "n": len(idx),
            "accuracy": accuracy(sub, p),
            "mean_p_male": round(float(answered.mean()), 3) if answered.size else None,
        }
    return out


def balanced_of(items: list[Any], probs: np.ndarray, source: str) -> float | None:
    """Balanced accuracy over the items of one ``source`` (no answer counts as wrong)."""
    idx = [k for k, i in enumerate(items) if i.source == source]
    return metrics([items[k] for k in idx], probs[idx])["balanced_accuracy"]


@dataclass
class Evaluation:
    """Everything the training run measured, for ``build``."""

    pool: list[Any]  # real + synthetic items, scored leave-one-speaker-out
    loso: np.ndarray  # calibrated, with unsure answers withheld (NaN)
    loso_raw: np.ndarray  # calibrated, every answer kept
    synth: list[Any]
    lobo: np.ndarray
    others: list[Any]  # stress, probe, nonspeech: scored by the shipped model
    final: np.ndarray
    ablation: dict[str, float | None]
    synthetic_only_real: np.ndarray  # real items scored by a model trained on synthetic only
    model: Any
    labels: list[Any]  # real_speech.Speaker rows


def _f0_hz(item: Any) -> float:
    return float(100.0 * 2 ** (item.features[0] / 12)) if item.features else float("nan")


def speakers_table(items: list[Any], probs: np.ndarray, labels: list[Any]) -> list[dict[str, Any]]:
    """One row per speaker: package(s), sex, clips, answered, accuracy, median F0."""
    sources = {s.speaker: s.label_source for s in labels}
    rows = []
    for speaker in dict.fromkeys(i.speaker for i in items):
        idx = [k for k, i in enumerate(items) if i.speaker == speaker]
        sub, p = [items[k] for k in idx], probs[idx]
        answered = p[~np.isnan(p)]
        f0 = [_f0_hz(i) for i in sub if i.features]
        rows.append(
            {
                "package": ", ".join(dict.fromkeys(i.package for i in sub)),
                "speaker": speaker,
                "sex": sub[0].sex,
                "clips": len(sub),
                "answered": int(answered.size),
                "accuracy": accuracy(sub, p),
                "mean_p_male": round(float(answered.mean()), 3) if answered.size else None,
                "median_f0_hz": round(float(np.median(f0)), 1) if f0 else None,
                "label_source": sources.get(speaker, ""),
            }
        )
    return rows


def sources_table(items: list[Any], probs: np.ndarray) -> list[dict[str, Any]]:
    """Per source package: speakers, clips, accuracy and balanced accuracy."""
    rows = []
    for package in dict.fromkeys(i.package for i in items):
        idx = [k for k, i in enumerate(items) if i.package == package]
        sub = [items[k] for k in idx]
        m = metrics(sub, probs[idx])
        rows.append(
            {
                "package": package,
                "speakers": len({i.speaker for i in sub}),
                "clips": len(sub),
                "accuracy": m["accuracy"],
                "balanced_accuracy": m["balanced_accuracy"],
            }
        )
    return rows


def build(ev: Evaluation) -> dict[str, Any]:
    def subset(items: list[Any], probs: np.ndarray, source: str) -> tuple[list[Any], np.ndarray]:
        idx = [k for k, i in enumerate(items) if i.source == source]
        return [items[k] for k in idx], probs[idx]

    real, real_p = subset(ev.pool, ev.loso, "real")
    synth, synth_p = subset(ev.pool, ev.loso, "synthetic")
    stress, stress_p = subset(ev.others, ev.final, "stress")
    heldout, heldout_p = subset(ev.others, ev.final, "heldout")
    probe, probe_p = subset(ev.others, ev.final, "probe")
    nonspeech, ns_p = subset(ev.others, ev.final, "nonspeech")
    pool_m, real_m, synth_m = (
        metrics(ev.pool, ev.loso),
        metrics(real, real_p),
        metrics(synth, synth_p),
    )
    every_answer = metrics(real, subset(ev.pool, ev.loso_raw, "real")[1])
    before = metrics(real, ev.synthetic_only_real)
    by_channel = {
        ch: metrics(
            [i for i in synth if i.channel == ch],
            synth_p[[k for k, i in enumerate(synth) if i.channel == ch]],
        )
        for ch in ("clean", "telephone")
    }
    real_speakers = {i.speaker: i.sex for i in real}
    return {
        "summary": {
            "real_balanced_accuracy": real_m["balanced_accuracy"],
            "real_accuracy": real_m["accuracy"],
            "real_answered": real_m["answered"],
            "real_clips": real_m["n"],
            "real_male_speakers": sum(s == "male" for s in real_speakers.values()),
            "real_female_speakers": sum(s == "female" for s in real_speakers.values()),
            "real_balanced_accuracy_answering_always": every_answer["balanced_accuracy"],
            "real_balanced_accuracy_trained_on_synthetic_only": before["balanced_accuracy"],
            "loso_accuracy": synth_m["accuracy"],
            "loso_balanced_accuracy": synth_m["balanced_accuracy"],
            "loso_accuracy_clean": by_channel["clean"]["accuracy"],
            "loso_accuracy_telephone": by_channel["telephone"]["accuracy"],
            "loso_all_balanced_accuracy": pool_m["balanced_accuracy"],
            "leave_one_engine_out_accuracy": accuracy(ev.synth, ev.lobo),
            "stress_balanced_accuracy": metrics(stress, stress_p)["balanced_accuracy"],
            "heldout_balanced_accuracy": metrics(heldout, heldout_p)["balanced_accuracy"],
            "nonspeech_clips": len(nonspeech),
            "nonspeech_answered": int((~np.isnan(ns_p)).sum()),
            "child_probe_said_male": round(
                float(np.mean([_pred(p) == "male" for p in probe_p])), 3
            ),
        },
        "real_speech": {
            "all": real_m,
            "answering_always": every_answer,
            "trained_on_synthetic_only": before,
            "per_speaker": speakers_table(real, real_p, ev.labels),
            "per_source": sources_table(real, real_p),
        },
        "leave_one_speaker_out": {
            "all": pool_m,
            "synthetic": synth_m,
            "by_channel": by_channel,
            "per_voice": grouped(synth, synth_p, "voice"),
            "feature_ablation_real_balanced_accuracy": ev.ablation,
        },
        "leave_one_engine_out": {
            "all": metrics(ev.synth, ev.lobo),
            "per_engine": grouped(ev.synth, ev.lobo, "engine"),
        },
        "stress": {
            "all": metrics(stress, stress_p),
            "per_speaker": speakers_table(stress, stress_p, ev.labels),
        },
        "heldout": {
            "all": metrics(heldout, heldout_p),
            "per_speaker": speakers_table(heldout, heldout_p, ev.labels),
        },
        "child_probe": {
            "all": metrics(probe, probe_p),
            "per_voice": grouped(probe, probe_p, "voice"),
        },
        "nonspeech": [
            {
                "name": i.name,
                "kind": i.voice,
                "answered": bool(not np.isnan(p)),
                "p_male": None if np.isnan(p) else round(float(p), 3),
            }
            for i, p in zip(nonspeech, ns_p, strict=True)
        ],
        "model": {
            "features": list(ev.model.features),
            "coef": [round(float(c), 4) for c in ev.model.coef],
            "intercept": round(ev.model.intercept, 4),
            "min_confidence": ev.model.min_confidence,
            "meta": ev.model.meta,
        },
        "corpus": {
            "synthetic_clip_channels": len(ev.synth),
            "synthetic_voices": len({i.voice for i in ev.synth}),
            "synthetic_speakers": len({i.speaker for i in ev.synth}),
            "real_clips": len(real),
            "real_speakers": len(real_speakers),
            "gated_in_training_data": sum(i.features is None for i in ev.pool),
        },
    }
