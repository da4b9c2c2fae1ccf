"""Run a task in-process, for its author's unit tests: no broker, no store, no worker.

    from asyncml.testing import TaskRunner

    def test_detects_french() -> None:
        with TaskRunner(DetectLanguage) as runner:       # setup() runs once, here
            out = runner.run({"text": "Bonjour tout le monde"})
        assert out.language == "fr"

The input is validated with the task's input model (a ``pydantic.ValidationError`` when it
is invalid), ``run`` gets a real ``asyncml.Context`` whose egress client reaches only the
hosts in ``allow`` (loopback by default, for a test server), and the output is checked
against the output model, as a worker does. Progress reports and cache entries are kept on
the runner (``runner.progress``, ``runner.cache``) for the test to look at.

A batched task (``batch=asyncml.Batch(...)``) is run with ``runner.run_batch([...])``: one
``run_batch`` call on all the inputs, with a ``BatchContext`` of one Context per input
(job ids ``test-job-0``, ``test-job-1``...), and back one output model instance or one
exception per input, as a worker would record them. ``runner.cancel(job_id)`` marks one
job of it canceled.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from pydantic import BaseModel

from asyncml.authoring import Context, definition_of
from asyncml.batching import BatchContext, check_outputs
from asyncml.net import Egress, EgressPolicy

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProgressReport:
    done: float
    total: float | None
    message: str | None
    job_id: str = "test-job"  # which job of a batch reported it


class MemoryCache:
    """``ctx.cache`` kept in a dict."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    def get(self, key: str) -> Any | None:
        return self.values.get(key)

    def set(self, key: str, value: Any, ttl_s: int | None = None) -> None:
        self.values[key] = value


class TaskRunner:
    """One set-up instance of a task class; ``run`` it on as many inputs as you like."""

    def __init__(
        self,
        task_class: type,
        *,
        allow: tuple[str, ...] = ("127.0.0.1", "::1", "localhost"),
        max_bytes: int = 64 * 1024 * 1024,
        timeout_s: float = 30.0,
    ) -> None:
        self.definition = definition_of(task_class)
        policy = EgressPolicy(allow=allow, max_bytes=max_bytes, total_timeout=timeout_s)
        self.egress = Egress(policy)
        self.progress: list[ProgressReport] = []
        self.cache = MemoryCache()
        self.cancelled = False
        self.cancelled_jobs: set[str] = set()
        self._instance: Any = None

    def setup(self) -> None:
        if self._instance is None:
            instance = self.definition.cls()
            if (setup := getattr(instance, "setup", None)) is not None:
                setup()
            self._instance = instance

    def run(self, payload: dict[str, Any] | BaseModel, *, job_id: str = "test-job") -> Any:
        """The task's output model instance for ``payload`` (a dict or the input model)."""
        self.setup()
        model = self.definition.input_model
        value = payload if isinstance(payload, model) else model.model_validate(payload)
        ctx = Context(
            job_id,
            egress=self.egress,
            progress=self._record,
            is_cancelled=lambda: self.cancelled,
            cache=self.cache,
        )
        result = self._instance.run(value, ctx)
        output = self.definition.output_model
        return result if isinstance(result, output) else output.model_validate(result)

    def run_batch(self, payloads: list[dict[str, Any] | BaseModel]) -> list[Any]:
        """Each input's output model instance, or the exception that fails its job alone.
        An invalid input raises ``pydantic.ValidationError`` (a worker fails that job
        alone); an exception raised by ``run_batch`` itself propagates."""
        if self.definition.batch is None:
            raise TypeError(f"{self.definition.name} is not batched; use run()")
        self.setup()
        model = self.definition.input_model
        values = [p if isinstance(p, model) else model.model_validate(p) for p in payloads]
        contexts = [self._context(f"test-job-{i}") for i in range(len(values))]
        outputs = check_outputs(
            self._instance.run_batch(values, BatchContext(contexts)), len(values)
        )
        output = self.definition.output_model
        return [
            out if isinstance(out, BaseException | output) else output.model_validate(out)
            for out in outputs
        ]

    def cancel(self, job_id: str) -> None:
        """Mark one job of a batch canceled (``ctx[i].cancelled``)."""
        self.cancelled_jobs.add(job_id)

    def _context(self, job_id: str) -> Context:
        return Context(
            job_id,
            egress=self.egress,
            progress=lambda done, total, message: self.progress.append(
                ProgressReport(done, total, message, job_id)
            ),
            is_cancelled=lambda: self.cancelled or job_id in self.cancelled_jobs,
            cache=self.cache,
        )

    def _record(self, done: float, total: float | None, message: str | None) -> None:
        self.progress.append(ProgressReport(done, total, message))

    def close(self) -> None:
        self.egress.close()

    def __enter__(self) -> TaskRunner:
        self.setup()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def run_task(task_class: type, payload: dict[str, Any] | BaseModel, **options: Any) -> Any:
    """Set ``task_class`` up, run it once on ``payload``, return its output."""
    with TaskRunner(task_class, **options) as runner:
        return runner.run(payload)


__all__ = ["MemoryCache", "ProgressReport", "TaskRunner", "run_task"]
