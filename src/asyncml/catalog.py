"""What can be run: each task's public name, Celery name, queue and wire schemas.

The Celery task name is the contract between API and worker: the API publishes by name and
never imports worker or model code.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from asyncml.schemas import (
    AudioLengthOutput,
    AudioUrlInput,
    EuroResultsInput,
    EuroResultsOutput,
)


@dataclass(frozen=True)
class TaskSpec:
    name: str
    celery_name: str
    queue: str
    description: str
    input_model: type[BaseModel]
    output_model: type[BaseModel]

    def input_schema(self) -> dict[str, Any]:
        return self.input_model.model_json_schema()

    def output_schema(self) -> dict[str, Any]:
        return self.output_model.model_json_schema()


TASKS: dict[str, TaskSpec] = {
    spec.name: spec
    for spec in (
        TaskSpec(
            name="audio.length",
            celery_name="asyncml.audio.length",
            queue="audio",
            description="Duration, sample rate, channels and format of the audio at a URL.",
            input_model=AudioUrlInput,
            output_model=AudioLengthOutput,
        ),
        TaskSpec(
            name="euro.results",
            celery_name="asyncml.euro.results",
            queue="euro",
            description="EuroMillions numbers and stars of a draw date.",
            input_model=EuroResultsInput,
            output_model=EuroResultsOutput,
        ),
    )
}

QUEUES: tuple[str, ...] = tuple(sorted({spec.queue for spec in TASKS.values()}))
