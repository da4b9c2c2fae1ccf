"""The public surface is pinned: adding or removing a name is a decision, not an accident."""

from __future__ import annotations

import subprocess
import sys

import pytest
from pydantic import BaseModel

import asyncml
import asyncml.testing
from asyncml.authoring import TaskDefinitionError, definition_of


def test_the_exported_names() -> None:
    assert sorted(asyncml.__all__) == [
        "AsyncClient",
        "Batch",
        "BatchContext",
        "Client",
        "Context",
        "InputUrl",
        "TaskError",
        "__version__",
        "task",
    ]
    for name in asyncml.__all__:
        assert getattr(asyncml, name) is not None
    assert sorted(asyncml.testing.__all__) == [
        "MemoryCache",
        "ProgressReport",
        "TaskRunner",
        "run_task",
    ]


def test_importing_asyncml_loads_neither_the_sdk_nor_the_server() -> None:
    code = (
        "import sys, asyncml;"
        "heavy = {'httpx', 'pydantic', 'fastapi', 'celery', 'asyncml.authoring'};"
        "loaded = heavy & set(sys.modules);"
        "sys.exit(sorted(loaded) or 0)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


class In(BaseModel):
    text: str


class Out(BaseModel):
    n: int


def test_the_decorator_reads_the_models_from_the_type_hints() -> None:
    @asyncml.task("text.count", queue="text", version="2", time_limit_s=30)
    class Count:
        """Counts characters.

        More text that is not the description."""

        def run(self, input: In, ctx: asyncml.Context) -> Out:
            return Out(n=len(input.text))

    definition = definition_of(Count)
    assert (definition.input_model, definition.output_model) == (In, Out)
    assert definition.key == "text.count@2" and definition.celery_name == "asyncml.text.count"
    manifest = definition.manifest()
    assert manifest["description"] == "Counts characters."
    assert manifest["input_schema"]["required"] == ["text"]
    assert manifest["limits"] == {
        "soft_time_limit_s": None,
        "time_limit_s": 30,
        "max_attempts": None,
    }
    assert len(manifest["schema_hash"]) == 16


@pytest.mark.parametrize(
    ("name", "options", "problem"),
    [
        ("Text.Count", {}, "lowercase"),
        ("text.count", {"queue": "Has Space"}, "queue"),
        ("text.count", {"version": "1 2"}, "version"),
        ("text.count", {"soft_time_limit_s": 9, "time_limit_s": 5}, "below"),
        ("text.count", {"max_attempts": 0}, "max_attempts"),
    ],
)
def test_bad_declarations_are_refused_with_the_reason(
    name: str, options: dict[str, object], problem: str
) -> None:
    with pytest.raises(TaskDefinitionError, match=problem):
        asyncml.task(name, **options)  # type: ignore[arg-type]


def test_run_must_be_typed_with_models() -> None:
    with pytest.raises(TaskDefinitionError, match="pydantic BaseModel"):

        @asyncml.task("text.untyped")
        class Untyped:
            def run(self, input: dict, ctx: asyncml.Context) -> Out:  # type: ignore[type-arg]
                return Out(n=0)


def test_task_error_codes_are_stable_identifiers() -> None:
    assert asyncml.TaskError("no_speech", "none").code == "no_speech"
    with pytest.raises(ValueError, match="lower_snake_case"):
        asyncml.TaskError("No Speech", "none")
