"""Fixture tasks, like Cog's fixture predictors: each shows one behaviour of the runtime.

Loaded by test workers with ``--tasks tests.plugins.fixture_tasks`` (queue ``fixture``).
Importing this module appends ``<pid> <argv>`` to the file named by
``ASYNCML_FIXTURE_IMPORT_LOG``, so a test can tell which processes imported task code.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from typing import Any, Literal

from pydantic import AnyHttpUrl, BaseModel, Field

import asyncml

if log := os.environ.get("ASYNCML_FIXTURE_IMPORT_LOG"):
    with open(log, "a") as out:
        out.write(f"{os.getpid()} {' '.join(sys.argv)}\n")


class Text(BaseModel):
    text: str = Field(min_length=1, max_length=100)
    times: int = Field(default=1, ge=1, le=5)


class Echoed(BaseModel):
    text: str
    setups: int


class Nothing(BaseModel):
    pass


class Seconds(BaseModel):
    seconds: float = Field(default=30, ge=0, le=60)


class Slept(BaseModel):
    slept: float
    cancelled: bool


class Size(BaseModel):
    kib: int = Field(ge=1, le=4096)


class Blob(BaseModel):
    data: str


class Voice(BaseModel):
    pitch: float = Field(default=1.0, ge=0.5, le=2.0, description="1 is natural")
    whisper: bool = False


class FormInput(BaseModel):
    """Every kind of field a generated form must offer."""

    text: str = Field(min_length=1, max_length=50, description="what to say")
    count: int = Field(default=2, ge=1, le=10)
    mode: Literal["plain", "shout"] = "plain"
    link: AnyHttpUrl | None = Field(default=None, description="a page to mention")
    voice: Voice
    note: str | None = None
    tags: list[str] = Field(default_factory=list)


class Received(BaseModel):
    input: dict[str, Any]


@asyncml.task("fixture.form", queue="fixture")
class Form:
    """Returns the input it was given, as the worker validated it."""

    def run(self, input: FormInput, ctx: asyncml.Context) -> Received:
        return Received(input=input.model_dump(mode="json"))


@asyncml.task("fixture.echo", queue="fixture", version="1")
class Echo:
    """Repeats the text, reporting progress once per repetition."""

    setups = 0

    def setup(self) -> None:
        type(self).setups += 1

    def run(self, input: Text, ctx: asyncml.Context) -> Echoed:
        for i in range(input.times):
            ctx.progress(i + 1, total=input.times, message=f"repetition {i + 1}")
            time.sleep(0.6)  # slower than the progress throttle, so each one shows
        return Echoed(text=input.text * input.times, setups=type(self).setups)


@asyncml.task("fixture.echo", queue="fixture", version="2")
class EchoV2:
    """Version 2: another schema (``kib`` instead of ``text``)."""

    def run(self, input: Size, ctx: asyncml.Context) -> Blob:
        return Blob(data="X" * input.kib)


@asyncml.task("fixture.fail", queue="fixture")
class Fail:
    def run(self, input: Nothing, ctx: asyncml.Context) -> Nothing:
        raise asyncml.TaskError("fixture_failed", "failed on purpose")


@asyncml.task("fixture.crash", queue="fixture")
class Crash:
    def run(self, input: Nothing, ctx: asyncml.Context) -> Nothing:
        raise ZeroDivisionError("division by zero on purpose")


@asyncml.task("fixture.sleep", queue="fixture")
class Sleep:
    """Sleeps, checking ``ctx.cancelled``, until the time is up or the job is canceled."""

    def run(self, input: Seconds, ctx: asyncml.Context) -> Slept:
        start = time.monotonic()
        while time.monotonic() - start < input.seconds and not ctx.cancelled:
            time.sleep(0.05)
        return Slept(slept=time.monotonic() - start, cancelled=ctx.cancelled)


@asyncml.task("fixture.stuck", queue="fixture", soft_time_limit_s=1, time_limit_s=2)
class Stuck:
    """Ignores its soft time limit, as code stuck in a C call would: only the hard limit,
    which ends its process, stops it."""

    def run(self, input: Seconds, ctx: asyncml.Context) -> Slept:
        start = time.monotonic()
        while time.monotonic() - start < input.seconds:
            with contextlib.suppress(Exception):  # SoftTimeLimitExceeded: ignored
                time.sleep(0.05)
        return Slept(slept=time.monotonic() - start, cancelled=False)


@asyncml.task("fixture.kill", queue="fixture")
class Kill:
    """Kills its own process: the job must be run again elsewhere, then given up."""

    def run(self, input: Nothing, ctx: asyncml.Context) -> Nothing:
        os.kill(os.getpid(), signal.SIGKILL)
        return Nothing()


@asyncml.task("fixture.broken", queue="fixture")
class BrokenSetup:
    """Its setup() always fails: its jobs must stay queued, and the registry say why."""

    def setup(self) -> None:
        raise RuntimeError("the model file is missing")

    def run(self, input: Nothing, ctx: asyncml.Context) -> Nothing:
        return Nothing()


@asyncml.task("fixture.big", queue="fixture")
class Big:
    def run(self, input: Size, ctx: asyncml.Context) -> Blob:
        return Blob(data="x" * (input.kib * 1024))


@asyncml.task("fixture.wrong_output", queue="fixture")
class WrongOutput:
    def run(self, input: Nothing, ctx: asyncml.Context) -> Blob:
        return {"not": "a blob"}  # type: ignore[return-value]


class Work(BaseModel):
    seconds: float = Field(default=0.05, ge=0, le=30)


class Worked(BaseModel):
    host: str
    pid: int


@asyncml.task("fixture.tally", queue="fixture")
class Tally:
    """Works for ``seconds`` and appends ``<job id> <host> <pid>`` to the file named by
    ``ASYNCML_FIXTURE_EXECUTION_LOG`` once per execution, outside the job store, so the
    cluster tests (tests/cluster) count re-executions whatever the store recorded."""

    def run(self, input: Work, ctx: asyncml.Context) -> Worked:
        host = os.environ.get("ASYNCML_FIXTURE_HOST", "")
        if path := os.environ.get("ASYNCML_FIXTURE_EXECUTION_LOG"):
            # One write() on an O_APPEND file: lines of concurrent processes never mix.
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, f"{ctx.job_id} {host} {os.getpid()}\n".encode())
            finally:
                os.close(fd)
        time.sleep(input.seconds)
        return Worked(host=host, pid=os.getpid())
