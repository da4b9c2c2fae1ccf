"""When and in what order a job may run: its priority, its start deadline, its time limit.

A client sets them on ``POST /v1/jobs`` (``priority``, ``deadline`` or ``start_within_s``,
``timeout_s``); the job's record keeps them, so every path that publishes the job's task
(the API, the republisher) sends it with the same priority and time limit, and the store's
start script refuses a job whose deadline has passed (it ends ``expired``).

Priorities run from 0 (the default, lowest) to 9 (highest), as on RabbitMQ, whose queues
are declared with ``x-max-priority`` 9. kombu's Redis transport emulates priorities with a
list per *priority step* (0, 3, 6, 9 by default) and serves the lowest step first, the
reverse of RabbitMQ: ``broker_priority`` turns ours into what each broker expects, so a
higher priority starts first on both. On Redis that gives four bands: 7-9, 4-6, 1-3, 0.

This module imports nothing from the web or queue side.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

PRIORITY_MIN = 0
PRIORITY_MAX = 9
DEFAULT_PRIORITY = 0
# RabbitMQ's x-max-priority for asyncml's queues (priorities 0..9).
AMQP_MAX_PRIORITY = PRIORITY_MAX


def broker_priority(priority: int, *, redis: bool) -> int:
    """The message priority a broker needs so that a higher ``priority`` starts first."""
    priority = min(max(priority, PRIORITY_MIN), PRIORITY_MAX)
    return PRIORITY_MAX - priority if redis else priority


@dataclass(frozen=True)
class JobOptions:
    """How a job is scheduled; the defaults are a job without options."""

    priority: int = DEFAULT_PRIORITY
    deadline: float | None = None  # epoch seconds: not started by then, it expires
    timeout_s: float | None = None  # soft time limit of this job (below its task's own)

    def record_fields(self) -> dict[str, str]:
        """The fields the job's record keeps (only those that differ from the default)."""
        fields: dict[str, str] = {}
        if self.priority != DEFAULT_PRIORITY:
            fields["priority"] = str(self.priority)
        if self.deadline is not None:
            fields["deadline"] = repr(self.deadline)
        if self.timeout_s is not None:
            fields["timeout_s"] = repr(self.timeout_s)
        return fields

    @classmethod
    def from_record(
        cls, priority: bytes | None, deadline: bytes | None, timeout_s: bytes | None
    ) -> JobOptions:
        return cls(
            priority=int(priority) if priority else DEFAULT_PRIORITY,
            deadline=float(deadline) if deadline else None,
            timeout_s=float(timeout_s) if timeout_s else None,
        )

    def time_limits(self, soft_s: float, hard_s: float) -> tuple[float, float] | None:
        """``(soft, hard)`` seconds for this job given its task's limits, or None to keep
        the task's: the soft limit is ``timeout_s`` (never above the task's), and the hard
        one follows it with the task's own grace between the two."""
        if self.timeout_s is None:
            return None
        soft = min(self.timeout_s, soft_s)
        hard = min(hard_s, soft + max(1.0, hard_s - soft_s))
        return soft, math.ceil(hard)


NO_OPTIONS = JobOptions()
