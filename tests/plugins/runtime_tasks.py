"""Fixture tasks of the runtime (queue ``batch``): how a worker gathers, runs and records
batches, and retries a job whose error is retryable.

Loaded by test workers with ``--tasks tests.plugins.runtime_tasks``. A batch holds (sleeps up
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
    flaky: int = Field(default=0, ge=0, le=10)  # its first attempts fail with a retryable error
    stubborn: bool = False  # the batch ignores its soft time limit: only the hard one stops it


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
        stubborn = any(item.stubborn for item in inputs)
        while (
            held
            and os.path.exists(held)
            and time.monotonic() - start < hold
            and not all(job.cancelled for job in ctx)
        ):
            try:
                time.sleep(0.05)
            except Exception:  # the soft time limit's exception, as a C call would miss it
                if not stubborn:
                    raise
        for job in ctx:  # per job: each reports its own (a final report always goes)
            job.progress(1, total=1, message=f"{job.job_id} done")
        results: list[Squared | Exception] = []
        for item, job in zip(inputs, ctx, strict=True):
            if _flaked(item.flaky, job):
                results.append(_flaky_error(job))
            elif item.fail:
                results.append(asyncml.TaskError("odd_one", f"{item.n} fails on purpose"))
            else:
                results.append(Squared(square=item.n**2, batch=len(inputs), pid=os.getpid()))
        return results


@asyncml.task("fixture.square_all_fail", queue="batch", batch=asyncml.Batch(max_size=4))
class SquareAllFail:
    """run_batch itself raises: every job of the batch fails with its code."""

    def run_batch(self, inputs: list[Number], ctx: asyncml.BatchContext) -> list[Squared]:
        raise asyncml.TaskError("model_down", "the whole batch failed on purpose")


def _flaked(times: int, ctx: asyncml.Context) -> bool:
    """True for the first ``times`` attempts at the job (counted in the shared cache)."""
    if not times:
        return False
    seen = ctx.cache.get(f"attempts:{ctx.job_id}") or 0
    ctx.cache.set(f"attempts:{ctx.job_id}", seen + 1, ttl_s=600)
    return bool(seen < times)


def _flaky_error(ctx: asyncml.Context) -> asyncml.TaskError:
    seen = ctx.cache.get(f"attempts:{ctx.job_id}")
    return asyncml.TaskError("flaky", f"attempt {seen} fails on purpose", retryable=True)


class Flaky(BaseModel):
    times: int = Field(ge=0, le=10, description="how many attempts fail before one succeeds")


class Attempt(BaseModel):
    succeeded_on: int


@asyncml.task("fixture.flaky", queue="batch", max_attempts=3)
class FlakyTask:
    """Fails with a retryable error on its first ``times`` attempts (at most 3 in all)."""

    def run(self, input: Flaky, ctx: asyncml.Context) -> Attempt:
        if _flaked(input.times, ctx):
            raise _flaky_error(ctx)
        return Attempt(succeeded_on=(ctx.cache.get(f"attempts:{ctx.job_id}") or 0))


class Address(BaseModel):
    url: str


class Fetched(BaseModel):
    bytes: int


@asyncml.task("fixture.fetch", queue="batch")
class Fetch:
    """Downloads a URL through the egress client: its transient failures are retried."""

    def run(self, input: Address, ctx: asyncml.Context) -> Fetched:
        return Fetched(bytes=len(ctx.fetch(input.url)))
