"""Metrics and the evaluation report of the gender model (JSON and Markdown)."""

from __future__ import annotations

import itertools
from collections import Counter, defaultdict
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


def build(
    items: list[Any],
    synth: list[Any],
    loso: np.ndarray,
    lobo: np.ndarray,
    others: list[Any],
    final: np.ndarray,
    ablation: dict[str, float],
    model: Any,
    timings: dict[str, float],
) -> dict[str, Any]:
    def subset(source: str) -> tuple[list[Any], np.ndarray]:
        idx = [k for k, i in enumerate(others) if i.source == source]
        return [others[k] for k in idx], final[idx]

    by_channel = {
        ch: metrics(
            [i for i in synth if i.channel == ch],
            loso[[k for k, i in enumerate(synth) if i.channel == ch]],
        )
        for ch in ("clean", "telephone")
    }
    real, real_p = subset("real")
    probe, probe_p = subset("probe")
    nonspeech, ns_p = subset("nonspeech")
    loso_m = metrics(synth, loso)
    real_m = metrics(real, real_p)
    return {
        "summary": {
            "loso_accuracy": loso_m["accuracy"],
            "loso_balanced_accuracy": loso_m["balanced_accuracy"],
            "loso_accuracy_clean": by_channel["clean"]["accuracy"],
            "loso_accuracy_telephone": by_channel["telephone"]["accuracy"],
            "leave_one_engine_out_accuracy": accuracy(synth, lobo),
            "real_accuracy": real_m["accuracy"],
            "real_balanced_accuracy": real_m["balanced_accuracy"],
            "real_clips": real_m["n"],
            "real_answered": real_m["answered"],
            "nonspeech_clips": len(nonspeech),
            "nonspeech_answered": int((~np.isnan(ns_p)).sum()),
            "child_probe_said_male": round(
                float(np.mean([_pred(p) == "male" for p in probe_p])), 3
            ),
        },
        "leave_one_speaker_out": {
            "all": loso_m,
            "by_channel": by_channel,
            "per_voice": grouped(synth, loso, "voice"),
            "feature_ablation_accuracy": ablation,
        },
        "leave_one_engine_out": {
            "all": metrics(synth, lobo),
            "per_engine": grouped(synth, lobo, "engine"),
        },
        "real_speech": {"all": real_m, "per_set": grouped(real, real_p, "voice")},
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
            "features": list(model.features),
            "coef": [round(float(c), 4) for c in model.coef],
            "intercept": round(model.intercept, 4),
            "meta": model.meta,
        },
        "corpus": {
            "synthetic_clip_channels": len(synth),
            "voices": len({i.voice for i in synth}),
            "speakers": len({i.speaker for i in synth}),
            "female_voices": len({i.voice for i in synth if i.sex == "female"}),
            "male_voices": len({i.voice for i in synth if i.sex == "male"}),
            "gated_in_training_data": sum(i.features is None for i in synth),
        },
    }


def _table(rows: list[list[Any]], head: list[str]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def _confusion(m: dict[str, Any]) -> str:
    rows = [
        [t, *(m["confusion"].get(t, {}).get(p, 0) for p in ("female", "male", "none"))]
        for t in m["confusion"]
    ]
    return _table(rows, ["true \\ said", "female", "male", "no answer"])


def _calibration(m: dict[str, Any]) -> str:
    c = m.get("calibration")
    if not c:
        return "(nothing answered)"
    rows = [[b["bin"], b["n"], b["mean_confidence"], b["accuracy"]] for b in c["reliability"]]
    return f"Brier {c['brier']}, log loss {c['log_loss']}, ECE {c['ece']}.\n\n" + _table(
        rows, ["confidence", "clips", "mean confidence", "accuracy"]
    )


def _groups(g: dict[str, dict[str, Any]]) -> str:
    rows = [[k, v["sex"], v["n"], v["accuracy"], v["mean_p_male"]] for k, v in g.items()]
    return _table(rows, ["voice", "sex", "clips", "accuracy", "mean P(male)"])


def markdown(r: dict[str, Any]) -> str:
    s = r["summary"]
    loso, real, lobo = r["leave_one_speaker_out"], r["real_speech"], r["leave_one_engine_out"]
    meta = r["model"]["meta"]
    parts = [
        "# audio.gender: evaluation report",
        "",
        f"Written by `{meta['command']}`; do not edit by hand. The model card is "
        "[gender.md](gender.md). Accuracy counts a clip with no answer as wrong.",
        "",
        "## Summary",
        "",
        _table([[k, v] for k, v in s.items()], ["figure", "value"]),
        "",
        "## Leave one speaker out (synthetic voices)",
        "",
        "Each underlying speaker's clips (all its voices, both channels) are scored by a model "
        "trained without that speaker.",
        "",
        _confusion(loso["all"]),
        "",
        "By channel: "
        + ", ".join(f"{ch} {m['accuracy']}" for ch, m in loso["by_channel"].items())
        + ".",
        "",
        "Feature ablation (leave-one-speaker-out accuracy): "
        + ", ".join(f"{k} {v}" for k, v in loso["feature_ablation_accuracy"].items())
        + ".",
        "",
        "Calibration (pooled held-out predictions): " + _calibration(loso["all"]),
        "",
        "Per voice:",
        "",
        _groups(loso["per_voice"]),
        "",
        "## Leave one engine out",
        "",
        "Train on two synthesisers, test on the third: the harder question of whether the "
        "model learned voices or a synthesiser.",
        "",
        _groups(lobo["per_engine"]),
        "",
        "## Real speech (Asterisk prompts, 8 kHz telephone recordings, never trained on)",
        "",
        _confusion(real["all"]),
        "",
        f"Balanced accuracy {real['all']['balanced_accuracy']}. " + _calibration(real["all"]),
        "",
        _groups(real["per_set"]),
        "",
        "## Known limit: a child's voice",
        "",
        "festival `czech_krb` is a boy. It is never trained on.",
        "",
        _groups(r["child_probe"]["per_voice"]),
        "",
        "## Non-speech must get no answer",
        "",
        _table(
            [[n["name"], n["kind"], n["answered"], n["p_male"]] for n in r["nonspeech"]],
            ["clip", "kind", "answered", "P(male)"],
        ),
        "",
        "## The shipped model",
        "",
        _table(
            [[f, c] for f, c in zip(r["model"]["features"], r["model"]["coef"], strict=True)],
            ["feature (standardised)", "coefficient"],
        ),
        "",
        f"Intercept {r['model']['intercept']}. Corpus: {r['corpus']}.",
        "",
        f"Step timings (s): {r.get('timings_s', {})}.",
        "",
    ]
    return "\n".join(parts)
