"""The demo's corpus and results pages: names, gaps, audio that is what it claims, cache."""

from __future__ import annotations

import datetime as dt
import itertools
import math
import wave
from pathlib import Path

import pytest

from asyncml.demo import corpus
from asyncml.demo.euro import NOTICE, last_days, made_up_draw, write_pages
from asyncml.models.euro import is_draw_day, parse_results_page
from tests.conftest import require_tool


def test_catalogue_follows_the_original_client() -> None:
    files = corpus.catalogue()
    assert [f.number for f in files] == list(range(10, 65))
    assert files[0].name == "OSR_us_000_0010_8k.wav"
    missing = [f.number for f in files if not f.present]
    assert 20 in missing and 64 in missing and 10 not in missing
    assert {f.voice for f in files} == {"female", "male"}


@pytest.fixture(params=["numpy", "pure-python"])
def numeric(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Both ways the corpus is computed: with numpy, and without it."""
    if request.param == "pure-python":
        monkeypatch.setattr(corpus, "_numpy", lambda: None)
    return str(request.param)


def test_resampling_keeps_a_tone_and_removes_what_cannot_be_kept(numeric: str) -> None:
    tone = [10000 * math.sin(2 * math.pi * 1000 * n / 22050) for n in range(22050)]
    out = corpus.resample(tone, 22050, 8000)
    assert len(out) == 8000
    expected = [10000 * math.sin(2 * math.pi * 1000 * k / 8000) for k in range(8000)]
    assert max(abs(a - b) for a, b in zip(out[50:-50], expected[50:-50], strict=True)) < 100
    # 6 kHz is above the new Nyquist frequency: filtered out, not folded back to 2 kHz.
    high = [10000 * math.sin(2 * math.pi * 6000 * n / 22050) for n in range(22050)]
    assert max(abs(x) for x in corpus.resample(high, 22050, 8000)[50:-50]) < 100


def test_synthetic_voices_differ_in_pitch(numeric: str, tmp_path: Path) -> None:
    female, male = corpus.catalogue()[:2]
    assert (female.voice, male.voice) == ("female", "male")
    crossings = {}
    for file in (female, male):
        seconds = corpus.synthesize(file, tmp_path / file.name)
        samples, rate = corpus.read_wav(tmp_path / file.name)
        assert rate == 8000 and len(samples) == round(seconds * 8000)
        assert max(abs(s) for s in samples) > 5000
        loud = [s for s in samples if abs(s) > 2000]
        crossings[file.voice] = sum(1 for a, b in itertools.pairwise(loud) if a < 0 <= b) / seconds
    assert crossings["female"] > crossings["male"]


def test_synthetic_corpus_is_made_once_then_cached(tmp_path: Path) -> None:
    made: list[str] = []
    first = corpus.prepare(tmp_path, synthetic=True, on_file=lambda f: made.append(f.name))
    assert first.kind == "synthetic" and not first.cached
    present = [f for f in first.files if f.present]
    assert made == [f.name for f in present]
    for file in first.files:
        path = first.directory / file.name
        assert path.is_file() == file.present
    with wave.open(str(first.directory / present[0].name)) as wav:
        assert (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (8000, 1, 2)
        assert wav.getnframes() / 8000 == pytest.approx(first.lengths[present[0].name])
    again = corpus.prepare(tmp_path, synthetic=True, on_file=lambda f: made.append(f.name))
    assert again.cached and again.lengths == pytest.approx(first.lengths)
    assert len(made) == len(present)
    (first.directory / present[3].name).unlink()  # a damaged cache is made again
    assert not corpus.prepare(tmp_path, synthetic=True).cached


def test_espeak_speech_is_8k_wav(tmp_path: Path) -> None:
    require_tool(corpus.ESPEAK, "apt-get install espeak-ng")
    file = corpus.catalogue()[0]
    seconds = corpus.speak(file, tmp_path / file.name)
    with wave.open(str(tmp_path / file.name)) as wav:
        assert wav.getframerate() == 8000
        assert wav.getnframes() / 8000 == pytest.approx(seconds)
    assert 1.5 < seconds < 10


def test_results_pages_parse_back_and_say_they_are_made_up(tmp_path: Path) -> None:
    days = last_days(dt.date(2024, 1, 14))
    assert len(days) == 15 and days[0] == dt.date(2023, 12, 31) and days[-1] == dt.date(2024, 1, 14)
    draws = write_pages(tmp_path, days)
    assert sorted(draws) == [d for d in days if is_draw_day(d)]
    for day, draw in draws.items():
        page = (tmp_path / f"{day:%d-%m-%Y}.html").read_text()
        assert NOTICE in page
        assert parse_results_page(page, day) == draw == made_up_draw(day)
    assert len(list(tmp_path.iterdir())) == len(draws)


def test_without_espeak_the_corpus_is_synthetic_and_says_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(corpus, "espeak_available", lambda: False)
    made = corpus.prepare(tmp_path)
    assert made.kind == "synthetic"
    assert "espeak-ng is not installed" in made.note and "apt-get install espeak-ng" in made.note
