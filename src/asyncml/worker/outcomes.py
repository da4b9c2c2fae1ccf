"""What a run made of a job (``Outcome``), and the checks of a task's input and output that
both the one-job path (``base``) and the batch path (``batches``) apply."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from asyncml.authoring import TaskDefinition


@dataclass(frozen=True)
class Outcome:
    """What one run made of a job."""

    status: str  # succeeded, failed, canceled, or retrying (asyncml.worker.retries)
    stored: str  # the store's answer: "ok", or the status the job already had (canceled…)
    error: str = ""  # "code: message" of a failure
    retry_in: float = 0.0  # retrying: seconds until the next attempt

    @property
    def final(self) -> str:
        """The job's status now: this run's, unless the job had already ended elsewhere."""
        return self.status if self.stored == "ok" else self.stored


class OutputError(Exception):
    """What ``run`` returned does not match the declared output model."""


def output_json(definition: TaskDefinition, result: object) -> Any:
    """The JSON of what ``run`` returned, checked against the declared output model."""
    model = definition.output_model
    try:
        value = result if isinstance(result, model) else model.model_validate(result)
    except ValidationError as exc:
        raise OutputError(
            f"the task's output does not match {model.__name__}: "
            f"{validation_message(exc, 'output')}"
        ) from None
    assert isinstance(value, BaseModel)
    return value.model_dump(mode="json")


def validation_message(exc: ValidationError, what: str = "input") -> str:
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first["loc"])
    return f"{what}.{where}: {first['msg']}" if where else f"{what}: {first['msg']}"
