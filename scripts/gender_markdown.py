"""The gender model's evaluation report as Markdown (``docs/models/gender-report.md``), from
the JSON that ``gender_report.build`` makes."""

from __future__ import annotations

from typing import Any


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
        "## Held out: 0 A.D.'s civilian voices (never trained on, reported apart)",
        "",
        "Short acted lines of four civilisations' male and female civilians (`0ad-data`), "
        "labelled by file name. How many actors voiced them is not documented, so they "
        "cannot be kept apart speaker by speaker: they are scored by the shipped model only. "
        f"Balanced accuracy {r['heldout']['all']['balanced_accuracy']}.",
        "",
        _speaker_rows(r["heldout"]["per_speaker"]),
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
