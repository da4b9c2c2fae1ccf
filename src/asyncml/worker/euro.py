"""Tasks on the ``euro`` queue."""

from __future__ import annotations

import datetime as dt
from typing import Any

from celery import Celery

from asyncml.catalog import TASKS
from asyncml.models.euro import DrawResult, check_draw_date, parse_results_page
from asyncml.schemas import EuroResultsInput, EuroResultsOutput
from asyncml.worker.base import JobTask
from asyncml.worker.context import WorkerContext

PAGE_MAX_BYTES = 4 * 1024 * 1024


def euro_results(ctx: WorkerContext, value: EuroResultsInput) -> EuroResultsOutput:
    day = value.draw_day()
    check_draw_date(day, today=dt.datetime.now(dt.UTC).date())
    cache_name = f"euro:{day.isoformat()}"
    if (cached := ctx.store.cache_get(cache_name)) is not None:
        return EuroResultsOutput.model_validate(cached)
    url = ctx.settings.euro_base_url + value.path_segment()
    page = ctx.egress.fetch(url, max_bytes=PAGE_MAX_BYTES)
    result: DrawResult = parse_results_page(page, day)
    output = EuroResultsOutput.model_validate(result.as_dict())
    # A draw's numbers never change: keep them as long as the store keeps anything.
    ctx.store.cache_set(cache_name, output.model_dump(mode="json"))
    return output


def register(app: Celery, ctx: WorkerContext) -> None:
    spec = TASKS["euro.results"]

    @app.task(name=spec.celery_name, bind=True, base=JobTask, context=ctx, spec=spec)
    def results(self: JobTask, job_id: str, payload: dict[str, Any]) -> None:
        self.run_job(job_id, payload, lambda value: euro_results(ctx, value))
