"""The task run in-process with ``asyncml.testing``, on sentences written for this test
(not taken from langid's training data)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

import asyncml
from asyncml.testing import TaskRunner
from asyncml_langid import DetectLanguage

SENTENCES = {
    "en": "The train to the coast leaves every morning at seven from platform four.",
    "fr": "Le train pour la côte part chaque matin à sept heures du quai numéro quatre.",
    "de": "Der Zug zur Küste fährt jeden Morgen um sieben Uhr von Gleis vier ab.",
    "es": "El tren hacia la costa sale cada mañana a las siete desde el andén cuatro.",
    "it": "Il treno per la costa parte ogni mattina alle sette dal binario quattro.",
    "nl": "De trein naar de kust vertrekt elke ochtend om zeven uur van spoor vier.",
    "pt": "O comboio para a costa parte todas as manhãs às sete da plataforma quatro.",
}


@pytest.fixture(scope="module")
def runner() -> TaskRunner:
    with TaskRunner(DetectLanguage) as runner:
        yield runner


@pytest.mark.parametrize("language", sorted(SENTENCES))
def test_identifies_each_language(runner: TaskRunner, language: str) -> None:
    out = runner.run({"text": SENTENCES[language]})
    assert out.language == language
    assert out.confidence > 0.9


def test_a_closed_set_of_languages(runner: TaskRunner) -> None:
    out = runner.run({"text": SENTENCES["pt"], "languages": ["es", "pt"]})
    assert out.language == "pt"


def test_an_unknown_language_code_is_a_task_error(runner: TaskRunner) -> None:
    with pytest.raises(asyncml.TaskError) as caught:
        runner.run({"text": "hello", "languages": ["en", "xx"]})
    assert caught.value.code == "unknown_language"


def test_empty_text_is_refused_by_the_input_model(runner: TaskRunner) -> None:
    with pytest.raises(ValidationError):
        runner.run({"text": ""})


def test_progress_is_reported(runner: TaskRunner) -> None:
    before = len(runner.progress)
    runner.run({"text": SENTENCES["en"]})
    assert runner.progress[before].message == "classifying"
