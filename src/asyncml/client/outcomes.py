"""How each input of ``map``/``as_completed`` ended (``Outcome``): a job or an error, so it
sits above both ``models`` and ``errors``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from asyncml.client.errors import ClientError
from asyncml.client.models import JobInfo


@dataclass(frozen=True)
class Outcome:
    """How one input of a batch ended: a finished job, or the error that stopped it.

    ``job`` is the last state seen (``None`` when the API refused the input);
    ``error`` is ``None`` exactly when the job succeeded.
    """

    index: int
    input: dict[str, Any]
    job: JobInfo | None
    error: ClientError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.job is not None and self.job.ok

    @property
    def result(self) -> Any:
        """The job's result; raises the error when there is none."""
        if self.error is not None:
            raise self.error
        assert self.job is not None
        return self.job.result


__all__ = ["Outcome"]
