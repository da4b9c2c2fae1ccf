"""What can be run: each task's public name, Celery name, queue and wire schemas.

The Celery task name is the contract between API and worker: the API publishes by name and
never imports worker or model code.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from asyncml.schemas import (
    AudioGenderOutput,
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
            name="audio.gender",
            celery_name="asyncml.audio.gender",
            queue="audio",
            description="Speaker gender (male/female, with a confidence) of the speech at a URL;"
            " null with a reason when there is no usable speech.",
            input_model=AudioUrlInput,
            output_model=AudioGenderOutput,
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

# Service queues carry asyncml's own work, not tasks a client can submit: ``webhooks``
# delivers signed webhooks (``asyncml.worker.webhooks``).
WEBHOOK_QUEUE = "webhooks"
WEBHOOK_DELIVER_TASK = "asyncml.webhooks.deliver"
SERVICE_QUEUES: tuple[str, ...] = (WEBHOOK_QUEUE,)

QUEUES: tuple[str, ...] = tuple(
    sorted({spec.queue for spec in TASKS.values()} | set(SERVICE_QUEUES))
)
