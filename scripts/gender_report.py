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


def _speaker_rows(rows: list[dict[str, Any]]) -> str:
    return _table(
        [
            [
                r["package"],
                r["speaker"],
                r["sex"],
                r["clips"],
                r["answered"],
                r["accuracy"],
                r["mean_p_male"],
                r["median_f0_hz"],
            ]
            for r in rows
        ],
        [
            "source package",
            "speaker",
            "sex",
            "clips",
            "answered",
            "accuracy",
            "mean P(male)",
            "median F0 (Hz)",
        ],
    )


def markdown(r: dict[str, Any]) -> str:
    s = r["summary"]
    loso, real, lobo = r["leave_one_speaker_out"], r["real_speech"], r["leave_one_engine_out"]
    meta = r["model"]["meta"]
    parts = [
        "# audio.gender: evaluation report",
        "",
        f"Written by `{meta['command']}`; do not edit by hand. The model card is "
        "[gender.md](gender.md); the speakers and how each one's sex is known are in "
        "`data/real-speech-labels.csv`. Accuracy counts a clip with no answer (`null`, "
        f"including `uncertain`: calibrated confidence under {r['model']['min_confidence']}) "
        "as wrong.",
        "",
        "## Summary",
        "",
        _table([[k, v] for k, v in s.items()], ["figure", "value"]),
        "",
        "## Real speech, leave one speaker out",
        "",
        "Every real speaker's clips are scored by a model trained on all the other real and "
        "synthetic speakers, then calibrated by a Platt scaling fitted on the other real "
        "speakers' held-out answers (the shipped scaling is fitted on all of them). "
        "Clips: utterances of one speaker joined to at least 4 s, at most "
        "30 a speaker (Allison Smith: two sets, one speaker).",
        "",
        _confusion(real["all"]),
        "",
        f"Balanced accuracy {real['all']['balanced_accuracy']} "
        f"(answering every clip: {real['answering_always']['balanced_accuracy']}; "
        "the same features trained on synthetic voices only: "
        f"{real['trained_on_synthetic_only']['balanced_accuracy']}). " + _calibration(real["all"]),
        "",
        _speaker_rows(real["per_speaker"]),
        "",
        "Per source:",
        "",
        _table(
            [
                [x["package"], x["speakers"], x["clips"], x["accuracy"], x["balanced_accuracy"]]
                for x in real["per_source"]
            ],
            ["source package", "speakers", "clips", "accuracy", "balanced accuracy"],
        ),
        "",
        "Feature sets (real balanced accuracy, leave one speaker out): "
        + ", ".join(f"{k} {v}" for k, v in loso["feature_ablation_real_balanced_accuracy"].items())
        + ".",
        "",
        "## Stress set: Drascula's acted voices (never trained on, reported apart)",
        "",
        "Stylised game characters at 11 kHz, 8-bit, scored by the shipped model.",
        "",
        _speaker_rows(r["stress"]["per_speaker"]),
        "",
        "## Synthetic voices, leave one speaker out",
        "",
        "Scored in the same run as the real speakers, both channels.",
        "",
        _confusion(loso["synthetic"]),
        "",
        "By channel: "
        + ", ".join(f"{ch} {m['accuracy']}" for ch, m in loso["by_channel"].items())
        + ".",
        "",
        _groups(loso["per_voice"]),
        "",
        "## Leave one engine out (synthetic only)",
        "",
        "Train on two synthesisers, test on the third.",
        "",
        _groups(lobo["per_engine"]),
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
            ["feature (standardised)", "coefficient (calibration folded in)"],
        ),
        "",
        f"Intercept {r['model']['intercept']}. Corpus: {r['corpus']}.",
        "",
        f"Step timings (s): {r.get('timings_s', {})}.",
        "",
    ]
    return "\n".join(parts)
