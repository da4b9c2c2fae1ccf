"""Dynamic batching, the author's side: ``Batch`` (how many jobs to run together, how long
to wait for them) and ``BatchContext`` (what ``run_batch`` gets as ``ctx``).

    @asyncml.task("text.embed", queue="text", batch=asyncml.Batch(max_size=32, max_wait_ms=10))
    class Embed:
        def run_batch(self, inputs: list[In], ctx: asyncml.BatchContext) -> list[Out]: ...

``run_batch`` returns one output per input, in order; an item may be an exception instead
(an ``asyncml.TaskError`` or any other), which fails that job alone. How the worker gathers
a batch from the broker and acknowledges each job on its own is in ``docs/batching.md``.

Like ``asyncml.authoring``, this module imports nothing from the web or queue side.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from asyncml.authoring import Cache, Context
    from asyncml.net import RemoteFile

# The worker keeps the delivery tags of a batch in a 4 KiB record its supervisor reads
# (asyncml.worker.solo.InHand): 100 tags fit with room to spare.
MAX_BATCH_SIZE = 100
MAX_WAIT_MS = 10_000


class BatchDefinitionError(TypeError):
    """``Batch`` was given values a worker cannot honour."""


@dataclass(frozen=True)
class Batch:
    """Run up to ``max_size`` jobs of a task in one ``run_batch`` call.

    A worker that takes a job of the task also takes the task's jobs waiting behind it on
    the queue, up to ``max_size`` in all, for at most ``max_wait_ms`` after the first; with
    nothing else waiting it runs the first job alone at once, so a trickle of jobs waits
    no longer than without batching.
    """

    max_size: int = 8
    max_wait_ms: int = 10

    def __post_init__(self) -> None:
        if not 1 <= self.max_size <= MAX_BATCH_SIZE:
            raise BatchDefinitionError(f"Batch max_size must be between 1 and {MAX_BATCH_SIZE}")
        if not 0 <= self.max_wait_ms <= MAX_WAIT_MS:
            raise BatchDefinitionError(f"Batch max_wait_ms must be between 0 and {MAX_WAIT_MS}")


class BatchContext(Sequence["Context"]):
    """What ``run_batch`` gets as ``ctx``: one ``asyncml.Context`` per input, in order.

    - ``ctx[i]`` is the job of ``inputs[i]``: its ``job_id``, ``progress(...)``,
      ``cancelled`` and ``log`` are that job's own, so progress and cancels stay per job;
    - ``ctx.progress(done, total=None, message=None)`` reports the same progress on every
      job of the batch (one model call for all of them);
    - ``ctx.fetch(url)``, ``ctx.open(url)``, ``ctx.cache`` and ``ctx.log`` are shared.

    A job canceled while queued never reaches ``run_batch``; one canceled while the batch
    runs shows ``ctx[i].cancelled``, and whatever is returned for it is dropped.
    """

    def __init__(self, jobs: Sequence[Context], *, logger: logging.Logger | None = None) -> None:
        if not jobs:
            raise ValueError("a batch has at least one job")
        self._jobs = list(jobs)
        ids = ",".join(job.job_id for job in self._jobs)
        self.log = logging.LoggerAdapter(
            logger or logging.getLogger("asyncml.batching"), {"job_id": ids}
        )

    def __getitem__(self, index: int) -> Context:  # type: ignore[override]
        return self._jobs[index]

    def __len__(self) -> int:
        return len(self._jobs)

    def __iter__(self) -> Iterator[Context]:
        return iter(self._jobs)

    @property
    def job_ids(self) -> list[str]:
        return [job.job_id for job in self._jobs]

    def progress(self, done: float, total: float | None = None, message: str | None = None) -> None:
        for job in self._jobs:
            job.progress(done, total, message)

    def fetch(self, url: str, *, max_bytes: int | None = None) -> bytes:
        return self._jobs[0].fetch(url, max_bytes=max_bytes)

    def open(self, url: str, *, max_bytes: int | None = None) -> RemoteFile:
        return self._jobs[0].open(url, max_bytes=max_bytes)

    @property
    def cache(self) -> Cache:
        return self._jobs[0].cache


def check_outputs(outputs: Any, size: int) -> list[Any]:
    """``run_batch``'s answer as a list of ``size`` items; ValueError when it is not one."""
    if not isinstance(outputs, list | tuple):
        raise ValueError(f"run_batch returned {type(outputs).__name__}, not a list")
    if len(outputs) != size:
        raise ValueError(f"run_batch returned {len(outputs)} results for {size} inputs")
    return list(outputs)


__all__ = ["Batch", "BatchContext", "BatchDefinitionError"]
