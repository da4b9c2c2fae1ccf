"""asyncml.models.gender: the shipped model on committed fixtures, the speech gate, the parts.

Fixture labels come from where the recordings came from (the speaker's sex in the Asterisk
prompt set's name, the TTS voice's documented sex), never from the code under test or a
snapshot of what a model once said (``expected.json`` is the training script's record,
not read here).
"""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import soundfile as sf

from asyncml.errors import UnsupportedMediaError
from asyncml.models.gender import GenderModel, prepare, shared_model
from asyncml.models.gender.classifier import FORMAT, LogisticModel
from asyncml.models.gender.decode import decode
from asyncml.models.gender.features import FEATURE_NAMES
from asyncml.models.gender.vad import FRAME, RATE, speech_segments

ROOT = Path(__file__).resolve().parents[3]
FIXTURES = ROOT / "tests" / "fixtures" / "gender"
REPORT: dict[str, Any] = json.loads((ROOT / "docs" / "models" / "gender-report.json").read_text())

# The truth comes from the speaker, never from a model's answer. Real clips are Asterisk IVR
# prompts, whose file names carry the speaker's sex (``<lang>_<f|m>_<speaker>-NN``);
# synthetic clips name their TTS voice, whose sex its documentation gives.
SYNTHETIC_VOICES = {
    "festival-cmu_us_slt_arctic_hts": "female",  # CMU ARCTIC "slt", a US woman
    "festival-pc_diphone": "male",  # festvox-italp16k: an Italian man's diphones ("pc")
    "espeak-ng-f3": "female",  # eSpeak NG's female variant f3
    "flite-awb": "male",  # CMU ARCTIC "awb", a Scottish man
}
REAL = re.compile(r"^[a-z]{2}_[A-Z]{2}_(?P<sex>[fm])_[A-Za-z]+-\d+$")


def speaker_label(stem: str) -> tuple[str, str]:
    """(source, the speaker's sex) of a fixture clip, from its name alone."""
    if match := REAL.match(stem):
        return "real", {"f": "female", "m": "male"}[match["sex"]]
    if stem not in SYNTHETIC_VOICES:
        raise LookupError(
            f"tests/fixtures/gender/{stem}.flac: whose voice is it? Name a real speaker's clip "
            "<lang>_<REGION>_<f|m>_<Speaker>-NN, or add a TTS voice to SYNTHETIC_VOICES with "
            "the sex its documentation gives"
        )
    return "synthetic", SYNTHETIC_VOICES[stem]


CLIPS = sorted(FIXTURES.glob("*.flac"))
LABELS = {clip.name: speaker_label(clip.stem) for clip in CLIPS}
# What the shipped model gets wrong today, as its report says speaker by speaker
# (docs/models/gender-report.md): Carlo Flora, a man speaking at about 174 Hz, is right on
# 13 of 30 held-out clips, and Menardi, a woman at about 180 Hz, is withheld ("uncertain")
# or wrong on 8 of 30. Shown as XFAIL with this reason, and strict: a model that gets them
# right turns them into failures until this set is emptied, so the mark cannot outlive
# the defect.
WRONG_TODAY = {"it_IT_m_Carlo-00.flac", "it_IT_m_Carlo-01.flac", "it_IT_f_Menardi-00.flac"}
WRONG_REASON = (
    "voices at 170-185 Hz, between the usual male and female ranges: the shipped model "
    "calls this man female and withholds an answer for this woman (docs/models/gender.md)"
)
# Balanced accuracy (the mean of female and male recall) that a model must reach on these
# clips: a constant answer scores 0.5 however the clips are balanced, so it cannot pass.
MIN_BALANCED_ACCURACY = 0.75


@pytest.fixture(scope="module")
def model() -> GenderModel:
    return shared_model()


@pytest.fixture(scope="module")
def predictions(model: GenderModel) -> dict[str, Any]:
    clips = [sf.read(clip, dtype="float32") for clip in CLIPS]
    results = model.predict_batch(clips)
    return {clip.name: r for clip, r in zip(CLIPS, results, strict=True)}


def test_the_fixtures_hold_both_sexes_of_real_and_synthetic_speech() -> None:
    assert len(CLIPS) >= 10
    assert set(LABELS.values()) == {
        ("real", "female"),
        ("real", "male"),
        ("synthetic", "female"),
        ("synthetic", "male"),
    }


def _marked(names: list[str]) -> list[Any]:
    mark = pytest.mark.xfail(strict=True, reason=WRONG_REASON)
    return [pytest.param(n, id=n, marks=[mark] if n in WRONG_TODAY else []) for n in names]


@pytest.mark.parametrize("name", _marked([clip.name for clip in CLIPS]))
def test_each_clip_is_given_its_speakers_sex(name: str, predictions: dict[str, Any]) -> None:
    result = predictions[name]
    assert result.gender == LABELS[name][1], result
    assert result.confidence is not None and result.confidence > 0.5
    assert result.median_f0_hz is not None and 60 < result.median_f0_hz < 400


def balanced_accuracy(source: str, predictions: dict[str, Any]) -> float:
    recalls = []
    for sex in ("female", "male"):
        chosen = [name for name, label in LABELS.items() if label == (source, sex)]
        recalls.append(sum(predictions[n].gender == sex for n in chosen) / len(chosen))
    return sum(recalls) / 2


def test_balanced_accuracy_is_computed_from_the_speakers() -> None:
    """The measure itself: a model that always says "female" scores 0.5, a perfect one 1."""
    female = {n: SimpleNamespace(gender="female") for n in LABELS}
    truth = {n: SimpleNamespace(gender=label) for n, (_, label) in LABELS.items()}
    for source in ("real", "synthetic"):
        assert balanced_accuracy(source, female) == 0.5
        assert balanced_accuracy(source, truth) == 1.0


@pytest.mark.xfail(strict=True, reason=WRONG_REASON)
def test_real_speech_balanced_accuracy(predictions: dict[str, Any]) -> None:
    assert balanced_accuracy("real", predictions) >= MIN_BALANCED_ACCURACY


def test_synthetic_speech_balanced_accuracy(predictions: dict[str, Any]) -> None:
    assert balanced_accuracy("synthetic", predictions) >= MIN_BALANCED_ACCURACY


def test_report_meets_the_real_speech_bar() -> None:
    # The training script's leave-one-speaker-out evaluation over 20 real speakers.
    summary = REPORT["summary"]
    assert summary["real_male_speakers"] >= 8 and summary["real_female_speakers"] >= 10
    assert summary["real_balanced_accuracy"] >= 0.9
    assert len(REPORT["real_speech"]["per_speaker"]) >= 18


def test_an_unsure_answer_is_withheld_with_a_reason() -> None:
    data = LogisticModel.load().to_dict()
    strict = GenderModel(
        LogisticModel.from_dict({**data, "min_confidence": 0.9999999}), shared_model().detector
    )
    clip = FIXTURES / "festival-cmu_us_slt_arctic_hts.flac"
    result = strict.predict(*sf.read(clip, dtype="float32"))
    assert (result.gender, result.confidence, result.reason) == (None, None, "uncertain")
    assert result.median_f0_hz and all(s.gender is None for s in result.segments)
    with pytest.raises(ValueError, match="min_confidence"):
        LogisticModel.from_dict({**data, "min_confidence": 1.0})


def test_report_describes_the_shipped_artifact() -> None:
    shipped = LogisticModel.load()
    assert REPORT["model"]["features"] == list(shipped.features)
    assert REPORT["model"]["coef"] == pytest.approx(shipped.coef.tolist(), abs=1e-3)
    assert REPORT["summary"]["nonspeech_answered"] == 0


def test_segments_are_listed_and_judged(predictions: dict[str, Any]) -> None:
    female = next(n for n, label in LABELS.items() if label == ("synthetic", "female"))
    result = predictions[female]
    assert result.segments and result.speech_seconds > 1.0
    assert all(0 <= s.start < s.end for s in result.segments)
    assert any(s.gender is not None for s in result.segments)


# ---- no speech, no answer ---------------------------------------------------------------


def _seconds(n: float) -> np.ndarray:
    return np.arange(int(n * RATE)) / RATE


def _melody() -> np.ndarray:
    notes = np.repeat([220.0, 262, 330, 294, 247, 196], RATE // 2)
    phase = 2 * np.pi * np.cumsum(notes) / RATE
    return 0.2 * sum(np.sin(k * phase) / k for k in range(1, 6))


NONSPEECH = {
    "silence": np.zeros(RATE * 4),
    "white noise": np.random.default_rng(1).standard_normal(RATE * 4) * 0.1,
    "tone 150 Hz": 0.3 * np.sin(2 * np.pi * 150 * _seconds(4)),
    "tone 440 Hz": 0.3 * np.sin(2 * np.pi * 440 * _seconds(4)),
    "melody": _melody(),
}


@pytest.mark.parametrize("name", NONSPEECH)
def test_nonspeech_gets_no_answer(model: GenderModel, name: str) -> None:
    result = model.predict(NONSPEECH[name].astype(np.float32), RATE)
    assert result.gender is None and result.confidence is None
    assert result.reason in ("no_speech", "no_voiced_speech", "not_speech_like")


def test_empty_and_tiny_audio(model: GenderModel) -> None:
    for samples in (np.zeros(0, dtype=np.float32), np.zeros(100, dtype=np.float32)):
        result = model.predict(samples, 8000)
        assert result.gender is None and result.reason == "no_speech"
        assert result.speech_seconds == 0


def test_batch_equals_one_by_one(model: GenderModel) -> None:
    clips = [sf.read(clip, dtype="float32") for clip in CLIPS[:2]]
    clips.append((NONSPEECH["silence"].astype(np.float32), RATE))
    batch = model.predict_batch(clips)
    assert batch == [model.predict(samples, rate) for samples, rate in clips]


def test_shared_model_is_loaded_once_per_process() -> None:
    assert shared_model() is shared_model()


# ---- the parts --------------------------------------------------------------------------


def test_prepare_mixes_down_and_resamples() -> None:
    stereo = np.stack([np.ones(44100), -np.ones(44100) * 0.5], axis=1).astype(np.float32)
    out = prepare(stereo, 44100)
    assert out.dtype == np.float32 and out.ndim == 1
    assert len(out) == RATE
    assert float(np.median(out)) == pytest.approx(0.25, abs=0.01)


def test_decode_reads_formats_and_refuses_others() -> None:
    buffer = io.BytesIO()
    sf.write(buffer, np.zeros((8000 * 3, 2), dtype=np.float32), 8000, format="FLAC")
    samples, rate = decode(buffer.getvalue(), max_seconds=2)
    assert rate == 8000 and samples.shape == (16000, 2)
    with pytest.raises(UnsupportedMediaError):
        decode(b"<!DOCTYPE html><html>not audio</html>")


def _frames(*runs: tuple[float, int]) -> np.ndarray:
    return np.concatenate([np.full(n, p, dtype=np.float32) for p, n in runs])


def test_speech_segments_hysteresis_and_minimum_length() -> None:
    probs = _frames((0.0, 10), (0.9, 20), (0.4, 5), (0.9, 20), (0.1, 10), (0.9, 3), (0.0, 10))
    segments = speech_segments(probs, total=len(probs) * FRAME)
    # 0.4 is above the release level, so the first two runs are one segment; the 3-frame
    # (96 ms) blip is shorter than the minimum of 250 ms.
    assert len(segments) == 1
    pad = 30 * RATE // 1000
    assert segments[0].start == 10 * FRAME - pad
    assert segments[0].end == 55 * FRAME + pad


def test_speech_segments_split_on_silence() -> None:
    probs = _frames((0.9, 20), (0.0, 10), (0.9, 20))
    segments = speech_segments(probs, total=len(probs) * FRAME)
    assert len(segments) == 2 and segments[0].start == 0
    assert segments[1].end == len(probs) * FRAME


def test_classifier_artifact_round_trip_and_checks() -> None:
    shipped = LogisticModel.load()
    data = shipped.to_dict()
    assert LogisticModel.from_dict(data).to_dict() == data
    # At the training mean every standardised feature is 0: P(male) is sigmoid(intercept).
    full = np.zeros((1, len(FEATURE_NAMES)))
    full[0, shipped.columns()] = shipped.mean
    expected = 1 / (1 + np.exp(-shipped.intercept))
    assert shipped.prob_male(full)[0] == pytest.approx(expected)
    with pytest.raises(ValueError, match="format"):
        LogisticModel.from_dict({**data, "format": "other/1"})
    with pytest.raises(ValueError, match="unknown features"):
        LogisticModel.from_dict({**data, "features": ["mfcc_1"] * len(data["features"])})
    assert data["format"] == FORMAT


def test_the_api_side_never_imports_the_model() -> None:
    code = (
        "import sys; import asyncml.api.app, asyncml.schemas;"
        "heavy = {'asyncml.models.gender', 'onnxruntime', 'parselmouth', 'soxr', 'numpy',"
        " 'asyncml.tasks', 'asyncml.models'}"
        " & set(sys.modules);"
        "sys.exit(sorted(heavy) or 0)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
