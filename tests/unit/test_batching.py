"""Batched tasks, the author's side: declaring them, and run_batch under asyncml.testing."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ValidationError

import asyncml
from asyncml.authoring import TaskDefinitionError, definition_of
from asyncml.batching import BatchDefinitionError
from asyncml.testing import TaskRunner
from tests.plugins.runtime_tasks import Number, Square, SquareAllFail, Squared


class In(BaseModel):
    x: int


class Out(BaseModel):
    cancelled: bool = False


def test_a_batched_task_reads_its_models_from_run_batch() -> None:
    definition = definition_of(Square)
    assert definition.batch == asyncml.Batch(max_size=8, max_wait_ms=50)
    assert definition.input_model is Number and definition.output_model is Squared
    manifest = definition.manifest()
    assert manifest["limits"]["batch"] == {"max_size": 8, "max_wait_ms": 50}
    assert manifest["input_schema"]["properties"]["n"]["type"] == "integer"


def test_an_unbatched_manifest_has_no_batch_field() -> None:
    from tests.plugins.fixture_tasks import Echo

    assert "batch" not in definition_of(Echo).manifest()["limits"]


@pytest.mark.parametrize(
    ("size", "wait"), [(0, 10), (101, 10), (8, -1), (8, 10_001)], ids=["0", "101", "-1ms", "10s+"]
)
def test_batch_limits_are_checked(size: int, wait: int) -> None:
    with pytest.raises(BatchDefinitionError):
        asyncml.Batch(max_size=size, max_wait_ms=wait)


def test_a_batched_class_needs_run_batch_with_list_hints() -> None:
    with pytest.raises(TaskDefinitionError, match="no run_batch"):

        @asyncml.task("t.nobatch", batch=asyncml.Batch())
        class NoBatch:
            def run(self, input: In, ctx: asyncml.Context) -> In:
                return input

    with pytest.raises(TaskDefinitionError, match="list\\[Model\\]"):

        @asyncml.task("t.badhints", batch=asyncml.Batch())
        class BadHints:
            def run_batch(self, inputs: In, ctx: asyncml.BatchContext) -> list[In]:
                return [inputs]

    with pytest.raises(TaskDefinitionError, match=r"must be an asyncml\.Batch"):
        asyncml.task("t.notabatch", batch={"max_size": 4})  # type: ignore[arg-type]


def test_run_batch_gives_one_output_or_exception_per_input() -> None:
    with TaskRunner(Square) as runner:
        out = runner.run_batch([{"n": 2}, {"n": 3, "fail": True}, Number(n=4)])
    assert [type(o) for o in out] == [Squared, asyncml.TaskError, Squared]
    assert (out[0].square, out[2].square, out[0].batch) == (4, 16, 3)
    assert out[1].code == "odd_one"
    # Progress: once for the whole batch (every job), then once per job with its own message.
    per_job = {(p.job_id, p.message) for p in runner.progress if p.done == 1}
    assert per_job == {(f"test-job-{i}", f"test-job-{i} done") for i in range(3)}
    assert {p.job_id for p in runner.progress if p.message == "started"} == {
        "test-job-0",
        "test-job-1",
        "test-job-2",
    }


def test_an_invalid_input_is_refused_before_the_call() -> None:
    with TaskRunner(Square) as runner, pytest.raises(ValidationError):
        runner.run_batch([{"n": 1}, {"n": -1}])


def test_run_batch_raising_fails_the_whole_batch() -> None:
    with TaskRunner(SquareAllFail) as runner, pytest.raises(asyncml.TaskError) as caught:
        runner.run_batch([{"n": 1}, {"n": 2}])
    assert caught.value.code == "model_down"


def test_a_job_canceled_in_a_batch_shows_on_its_own_context() -> None:
    seen: list[bool] = []

    @asyncml.task("t.cancels", batch=asyncml.Batch(max_size=4))
    class Cancels:
        def run_batch(self, inputs: list[Number], ctx: asyncml.BatchContext) -> list[Out]:
            seen.extend(job.cancelled for job in ctx)
            return [Out(cancelled=job.cancelled) for job in ctx]

    with TaskRunner(Cancels) as runner:
        runner.cancel("test-job-1")
        out = runner.run_batch([{"n": 1}, {"n": 2}, {"n": 3}])
    assert [o.cancelled for o in out] == [False, True, False] == seen


def test_a_wrong_number_of_results_is_an_error() -> None:
    @asyncml.task("t.short", batch=asyncml.Batch(max_size=4))
    class Short:
        def run_batch(self, inputs: list[Number], ctx: asyncml.BatchContext) -> list[Out]:
            return [Out()]

    with TaskRunner(Short) as runner, pytest.raises(ValueError, match="1 results for 2 inputs"):
        runner.run_batch([{"n": 1}, {"n": 2}])
    from tests.plugins.fixture_tasks import Echo

    with TaskRunner(Echo) as runner, pytest.raises(TypeError, match="not batched"):
        runner.run_batch([{"text": "a"}])
