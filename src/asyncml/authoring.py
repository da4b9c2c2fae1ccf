"""The public task API: how a model becomes an asyncml task.

    @asyncml.task("text.language", queue="text", version="1")
    class DetectLanguage:
        def setup(self) -> None: ...                      # optional, once per process
        def run(self, input: In, ctx: asyncml.Context) -> Out: ...

The input and output models are read from ``run``'s type hints (Pydantic v2 models); their
JSON Schemas become the task's manifest, which workers write to the registry in the job
store and the API validates inputs against, so the API never imports this code.

This module imports nothing from the web or queue side: a task module that imports it can
be unit tested alone (``asyncml.testing``).
"""

from __future__ import annotations

import hashlib
import inspect
import logging
import re
import time
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import orjson
from pydantic import BaseModel

from asyncml.batching import Batch
from asyncml.errors import JobError

if TYPE_CHECKING:
    from asyncml.net import Egress, RemoteFile

NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_-]*(\.[a-z0-9_-]+)*$")
QUEUE_PATTERN = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")
VERSION_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$")
CODE_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
PROGRESS_EVERY_S = 0.5
CANCEL_CHECK_EVERY_S = 0.5

C = TypeVar("C", bound=type)


class TaskError(JobError):
    """Fail the job with a stable ``code`` clients may branch on, and a message for people.

    ``raise asyncml.TaskError("no_speech", "the audio holds no speech")``

    With ``retryable=True`` (a model server that is busy, an origin that is down) the job
    runs again after a backoff, up to the task's ``max_attempts``; each failed attempt's
    error is kept on the job (``attempt_errors``) and only the final outcome is sent.
    """

    def __init__(self, code: str, message: str, *, retryable: bool = False) -> None:
        if not CODE_PATTERN.match(code):
            raise ValueError(f"TaskError code {code!r}: use lower_snake_case, e.g. 'no_speech'")
        super().__init__(message, code=code, retryable=retryable)


class TaskDefinitionError(TypeError):
    """A class given to ``@asyncml.task`` (or found by discovery) cannot be served."""


@dataclass(frozen=True)
class Limits:
    soft_time_limit_s: int | None = None
    time_limit_s: int | None = None
    max_attempts: int | None = None


@dataclass(frozen=True)
class TaskDefinition:
    """What ``@asyncml.task`` learned about a class: everything but its instances."""

    name: str
    version: str
    queue: str
    description: str
    cls: type
    input_model: type[BaseModel]
    output_model: type[BaseModel]
    limits: Limits = field(default_factory=Limits)
    batch: Batch | None = None  # set: the worker calls run_batch with up to max_size inputs
    # Codes of job errors that are retried (after a backoff, up to max_attempts) even when
    # not raised with retryable=True: e.g. "download_failed" for an origin known to flap.
    retry_on: frozenset[str] = frozenset()

    @property
    def key(self) -> str:
        return f"{self.name}@{self.version}"

    @property
    def celery_name(self) -> str:
        """The name the broker message carries: the contract between API and worker."""
        return f"asyncml.{self.name}"

    def manifest(self) -> dict[str, Any]:
        """What a worker advertises in the registry (JSON-ready)."""
        body: dict[str, Any] = {
            "name": self.name,
            "version": self.version,
            "queue": self.queue,
            "celery_name": self.celery_name,
            "description": self.description,
            "input_schema": self.input_model.model_json_schema(),
            "output_schema": self.output_model.model_json_schema(mode="serialization"),
            "limits": {
                "soft_time_limit_s": self.limits.soft_time_limit_s,
                "time_limit_s": self.limits.time_limit_s,
                "max_attempts": self.limits.max_attempts,
            },
        }
        # Only when set, so that other tasks' manifests (and schema hashes) stay as they were.
        if self.retry_on:
            body["limits"]["retry_on"] = sorted(self.retry_on)
        if self.batch is not None:
            batch = {"max_size": self.batch.max_size, "max_wait_ms": self.batch.max_wait_ms}
            body["limits"]["batch"] = batch
        digest = hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()
        body["schema_hash"] = digest[:16]
        return body


def task(
    name: str,
    *,
    queue: str = "default",
    version: str = "1",
    description: str | None = None,
    soft_time_limit_s: int | None = None,
    time_limit_s: int | None = None,
    max_attempts: int | None = None,
    batch: Batch | None = None,
    retry_on: tuple[str, ...] = (),
) -> Callable[[C], C]:
    """Declare a class as an asyncml task; the class itself is returned unchanged.

    ``description`` defaults to the class docstring's first paragraph. Time limits and
    ``max_attempts`` default to the worker's settings (``ASYNCML_TASK_*``). With
    ``batch=asyncml.Batch(...)`` the class implements ``run_batch(self, inputs, ctx)``
    instead of ``run`` (see ``asyncml.batching``); time limits then hold per batch.
    ``retry_on`` names error codes that are retried with a backoff, up to ``max_attempts``,
    as a ``TaskError(..., retryable=True)`` is.
    """
    if not NAME_PATTERN.match(name):
        raise TaskDefinitionError(
            f"task name {name!r}: use lowercase words joined by dots, e.g. 'text.language'"
        )
    if not QUEUE_PATTERN.match(queue):
        raise TaskDefinitionError(f"queue {queue!r}: use a short lowercase name, e.g. 'text'")
    if not VERSION_PATTERN.match(version):
        raise TaskDefinitionError(f"version {version!r}: letters, digits and . _ + - only")
    for label, value in (("soft_time_limit_s", soft_time_limit_s), ("time_limit_s", time_limit_s)):
        if value is not None and value < 1:
            raise TaskDefinitionError(f"{label} must be at least 1 second")
    if soft_time_limit_s and time_limit_s and soft_time_limit_s >= time_limit_s:
        raise TaskDefinitionError("soft_time_limit_s must be below time_limit_s")
    if max_attempts is not None and not 1 <= max_attempts <= 100:
        raise TaskDefinitionError("max_attempts must be between 1 and 100")
    for code in retry_on:
        if not CODE_PATTERN.match(code):
            raise TaskDefinitionError(f"retry_on: {code!r} is not an error code (lower_snake_case)")
    if batch is not None and not isinstance(batch, Batch):
        raise TaskDefinitionError(f"batch must be an asyncml.Batch, not {batch!r}")
    limits = Limits(soft_time_limit_s, time_limit_s, max_attempts)

    def decorate(cls: C) -> C:
        if not inspect.isclass(cls):
            raise TaskDefinitionError(f"@asyncml.task decorates a class, not {cls!r}")
        input_model, output_model = _batch_models(cls) if batch else _run_models(cls)
        doc = description if description is not None else _first_paragraph(cls.__doc__)
        cls.__asyncml_task__ = TaskDefinition(  # type: ignore[attr-defined]
            name,
            version,
            queue,
            doc,
            cls,
            input_model,
            output_model,
            limits,
            batch,
            frozenset(retry_on),
        )
        return cls

    return decorate


def definition_of(obj: object) -> TaskDefinition:
    """The definition ``@asyncml.task`` attached to ``obj``; TaskDefinitionError otherwise."""
    found = getattr(obj, "__asyncml_task__", None)
    # A subclass of a task class inherits the attribute; only the decorated class counts.
    if not isinstance(found, TaskDefinition) or found.cls is not obj:
        raise TaskDefinitionError(f"{obj!r} is not a class decorated with @asyncml.task")
    return found


def _run_models(cls: type) -> tuple[type[BaseModel], type[BaseModel]]:
    run = getattr(cls, "run", None)
    where = f"{cls.__module__}.{cls.__qualname__}.run"
    if run is None or not callable(run):
        raise TaskDefinitionError(f"{cls.__qualname__} has no run(self, input, ctx) method")
    try:
        hints = typing.get_type_hints(run)
    except Exception as exc:  # a hint that does not resolve: say which
        raise TaskDefinitionError(f"{where}: cannot resolve its type hints ({exc})") from exc
    params = [p for p in inspect.signature(run).parameters if p != "self"]
    if not params:
        raise TaskDefinitionError(f"{where} must take the input as its first argument")
    input_model, output_model = hints.get(params[0]), hints.get("return")
    for label, model in (("input", input_model), ("return", output_model)):
        if not (inspect.isclass(model) and issubclass(model, BaseModel)):
            raise TaskDefinitionError(
                f"{where}: the {label} type hint must be a pydantic BaseModel subclass, "
                f"not {model!r}"
            )
    return input_model, output_model  # type: ignore[return-value]


def _batch_models(cls: type) -> tuple[type[BaseModel], type[BaseModel]]:
    """The models of ``run_batch(self, inputs: list[In], ctx) -> list[Out]`` (the items of
    the returned list may be typed ``Out | Exception``)."""
    run_batch = getattr(cls, "run_batch", None)
    where = f"{cls.__module__}.{cls.__qualname__}.run_batch"
    if run_batch is None or not callable(run_batch):
        raise TaskDefinitionError(
            f"{cls.__qualname__} is batched but has no run_batch(self, inputs, ctx) method"
        )
    try:
        hints = typing.get_type_hints(run_batch)
    except Exception as exc:
        raise TaskDefinitionError(f"{where}: cannot resolve its type hints ({exc})") from exc
    params = [p for p in inspect.signature(run_batch).parameters if p != "self"]
    if not params:
        raise TaskDefinitionError(f"{where} must take the list of inputs as its first argument")
    found = []
    for label, hint in (("inputs", hints.get(params[0])), ("return", hints.get("return"))):
        items = typing.get_args(hint) if typing.get_origin(hint) is list else ()
        members = typing.get_args(items[0]) or items if items else ()
        models = [m for m in members if inspect.isclass(m) and issubclass(m, BaseModel)]
        if len(models) != 1:
            raise TaskDefinitionError(
                f"{where}: the {label} type hint must be list[Model] of a pydantic BaseModel "
                f"subclass (list[Model | Exception] for the return), not {hint!r}"
            )
        found.append(models[0])
    return found[0], found[1]


def _first_paragraph(doc: str | None) -> str:
    if not doc:
        return ""
    return " ".join(inspect.cleandoc(doc).split("\n\n")[0].split())


class ProgressSink(Protocol):
    def __call__(self, done: float, total: float | None, message: str | None) -> None: ...


class Cache(Protocol):
    """A small key-value cache shared by every worker of the deployment (the job store)."""

    def get(self, key: str) -> Any | None: ...

    def set(self, key: str, value: Any, ttl_s: int | None = None) -> None: ...


class Context:
    """What a running job can see and do: passed to ``run`` as ``ctx``.

    - ``job_id``, and ``log``: a logger whose lines carry the job id;
    - ``progress(done, total=None, message=None)``: shown on ``GET /v1/jobs/{id}`` and sent
      as a ``progress`` event; calls closer than 0.5 s apart are coalesced, so calling it in
      a tight loop costs next to nothing;
    - ``fetch(url)`` / ``open(url)``: read a URL through the egress client (private and
      internal addresses refused, bytes and time capped): the one way a task reads a URL;
    - ``cancelled``: true once the job was canceled while running; a long loop may check it
      and return early (the worker also stops the job on its own);
    - ``cache``: a key-value cache shared by all workers, kept in the job store.
    """

    def __init__(
        self,
        job_id: str,
        *,
        egress: Egress,
        progress: ProgressSink | None = None,
        is_cancelled: Callable[[], bool] | None = None,
        cache: Cache | None = None,
        logger: logging.Logger | None = None,
    ) -> None:
        self.job_id = job_id
        self.log = logging.LoggerAdapter(
            logger or logging.getLogger("asyncml.authoring"), {"job_id": job_id}
        )
        self._egress = egress
        self._sink = progress
        self._is_cancelled = is_cancelled
        self._cache = cache
        self._last_progress = -float("inf")
        self._last_check = -float("inf")
        self._cancelled = False

    def progress(self, done: float, total: float | None = None, message: str | None = None) -> None:
        if self._sink is None:
            return
        now = time.monotonic()
        final = total is not None and done >= total
        if not final and now - self._last_progress < PROGRESS_EVERY_S:
            return
        self._last_progress = now
        self._sink(done, total, message)

    def fetch(self, url: str, *, max_bytes: int | None = None) -> bytes:
        """The whole body at ``url`` (capped at ``max_bytes`` or the deployment's cap)."""
        return self._egress.fetch(url, max_bytes=max_bytes)

    def open(self, url: str, *, max_bytes: int | None = None) -> RemoteFile:
        """A seekable, read-only file over ``url`` (HTTP Range requests where served); use
        it in a ``with`` block."""
        return self._egress.open(url, max_bytes=max_bytes)

    @property
    def cancelled(self) -> bool:
        if self._cancelled or self._is_cancelled is None:
            return self._cancelled
        now = time.monotonic()
        if now - self._last_check >= CANCEL_CHECK_EVERY_S:
            self._last_check = now
            self._cancelled = self._is_cancelled()
        return self._cancelled

    @property
    def cache(self) -> Cache:
        if self._cache is None:
            raise RuntimeError("this Context has no cache")
        return self._cache


__all__ = ["Batch", "Context", "TaskDefinition", "TaskError", "definition_of", "task"]
