"""Batched fixture tasks (queue ``batch``): how a worker gathers, runs and records batches.

Loaded by test workers with ``--tasks tests.plugins.batch_tasks``. A batch holds (sleeps up
to its items' ``hold_s``) only while the file named by ``ASYNCML_FIXTURE_HOLD`` exists, so a
test can keep a batch running until it has killed its worker, then let the rerun go fast.
"""

from __future__ import annotations

import os
import time

from pydantic import BaseModel, Field

import asyncml


class Number(BaseModel):
    n: int = Field(ge=0)
    fail: bool = False  # this item comes back as a TaskError: its job alone fails
    hold_s: float = Field(default=0, ge=0, le=30)  # see ASYNCML_FIXTURE_HOLD above


class Squared(BaseModel):
    square: int
    batch: int  # how many jobs the run_batch call that made it had
    pid: int


@asyncml.task("fixture.square", queue="batch", batch=asyncml.Batch(max_size=8, max_wait_ms=50))
class Square:
    """Squares numbers, many jobs per call."""

    def run_batch(
        self, inputs: list[Number], ctx: asyncml.BatchContext
    ) -> list[Squared | Exception]:
        hold = max(item.hold_s for item in inputs)
        ctx.progress(0, total=1, message="started")
        start = time.monotonic()
        held = os.environ.get("ASYNCML_FIXTURE_HOLD", "")
        while (
            held
            and os.path.exists(held)
            and time.monotonic() - start < hold
            and not all(job.cancelled for job in ctx)
        ):
            time.sleep(0.05)
        for job in ctx:  # per job: each reports its own (a final report always goes)
            job.progress(1, total=1, message=f"{job.job_id} done")
        results: list[Squared | Exception] = []
        for item in inputs:
            if item.fail:
                results.append(asyncml.TaskError("odd_one", f"{item.n} fails on purpose"))
            else:
                results.append(Squared(square=item.n**2, batch=len(inputs), pid=os.getpid()))
        return results


@asyncml.task("fixture.square_all_fail", queue="batch", batch=asyncml.Batch(max_size=4))
class SquareAllFail:
    """run_batch itself raises: every job of the batch fails with its code."""

    def run_batch(self, inputs: list[Number], ctx: asyncml.BatchContext) -> list[Squared]:
        raise asyncml.TaskError("model_down", "the whole batch failed on purpose")
