"""Tasks on the ``audio`` queue."""

from __future__ import annotations

from typing import Any

from celery import Celery

from asyncml.catalog import TASKS
from asyncml.models.audio import probe
from asyncml.schemas import AudioLengthOutput, AudioUrlInput
from asyncml.worker.base import JobTask
from asyncml.worker.context import WorkerContext


def audio_length(ctx: WorkerContext, value: AudioUrlInput) -> AudioLengthOutput:
    with ctx.egress.open(str(value.url)) as remote:
        info = probe(remote)
        fetched = remote.bytes_fetched
    return AudioLengthOutput(
        audio_length=info.duration,
        sample_rate=info.sample_rate,
        channels=info.channels,
        format=info.format,
        frames=info.frames,
        bytes_fetched=fetched,
    )


def register(app: Celery, ctx: WorkerContext) -> None:
    spec = TASKS["audio.length"]

    @app.task(name=spec.celery_name, bind=True, base=JobTask, context=ctx, spec=spec)
    def length(self: JobTask, job_id: str, payload: dict[str, Any]) -> None:
        self.run_job(job_id, payload, lambda value: audio_length(ctx, value))
