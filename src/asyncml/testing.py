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
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from pydantic import BaseModel

from asyncml.authoring import Context, definition_of
from asyncml.net import Egress, EgressPolicy

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProgressReport:
    done: float
    total: float | None
    message: str | None


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
