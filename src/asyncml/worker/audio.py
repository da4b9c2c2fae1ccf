"""Tasks on the ``audio`` queue."""

from __future__ import annotations

from typing import Any

from celery import Celery

from asyncml.catalog import TASKS
from asyncml.models.audio import probe
from asyncml.schemas import AudioGenderOutput, AudioLengthOutput, AudioUrlInput
from asyncml.worker.base import JobTask
from asyncml.worker.context import WorkerContext


def audio_length(ctx: WorkerContext, value: AudioUrlInput) -> AudioLengthOutput:
    with ctx.egress.open(str(value.url)) as remote:
        info = probe(remote)
    # Read after closing: what close() drains to keep the connection is received too.
    fetched = remote.bytes_fetched
    return AudioLengthOutput(
        audio_length=info.duration,
        sample_rate=info.sample_rate,
        channels=info.channels,
        format=info.format,
        frames=info.frames,
        bytes_fetched=fetched,
    )


def audio_gender(ctx: WorkerContext, value: AudioUrlInput) -> AudioGenderOutput:
    # Imported on first use: onnxruntime and Praat cost ~100 MB per process, and a worker
    # that never sees a gender job should not pay it.
    from asyncml.models.gender import shared_model
    from asyncml.models.gender.decode import decode

    # The whole file is needed (a decode, not a header probe); the egress byte cap holds.
    with ctx.egress.open(str(value.url)) as remote:
        data = remote.read()
    samples, rate = decode(data)
    result = shared_model().predict(samples, rate)
    return AudioGenderOutput.model_validate(result, from_attributes=True)


def register(app: Celery, ctx: WorkerContext) -> None:
    spec = TASKS["audio.length"]

    @app.task(name=spec.celery_name, bind=True, base=JobTask, context=ctx, spec=spec)
    def length(self: JobTask, job_id: str, payload: dict[str, Any]) -> None:
        self.run_job(job_id, payload, lambda value: audio_length(ctx, value))

    gender_spec = TASKS["audio.gender"]

    @app.task(name=gender_spec.celery_name, bind=True, base=JobTask, context=ctx, spec=gender_spec)
    def gender(self: JobTask, job_id: str, payload: dict[str, Any]) -> None:
        self.run_job(job_id, payload, lambda value: audio_gender(ctx, value))
