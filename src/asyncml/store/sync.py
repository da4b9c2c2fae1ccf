"""The job store's synchronous face, used by worker processes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
import redis

from asyncml.schemas import JobStatus
from asyncml.store.direct import DirectScript
from asyncml.store.keys import batch_key, cache_key, event_log_key, events_channel, job_key
from asyncml.store.records import (
    EXPIRED_MESSAGE,
    FINISH_SCRIPT,
    PROGRESS_SCRIPT,
    RENEW_SCRIPT,
    RETRY_SCRIPT,
    START_SCRIPT,
    Claim,
    StoredJob,
    decode,
    error_json,
    state_keys,
    wall_time,
)


class JobStore:
    """Synchronous job store for worker processes."""

    def __init__(self, url: str, retention_s: int, clock: Callable[[], float] = wall_time) -> None:
        # ``clock`` stamps events (``started_at``, ``finished_at``); a test gives a worker
        # a skewed one. Leases never use it: they run on the store's clock.
        self._clock = clock
        self.redis = redis.Redis.from_url(url, socket_timeout=10, health_check_interval=30)
        self.retention_s = retention_s
        self._start = DirectScript(self.redis, START_SCRIPT)
        self._finish = DirectScript(self.redis, FINISH_SCRIPT)
        self._renew = DirectScript(self.redis, RENEW_SCRIPT)
        self._progress = DirectScript(self.redis, PROGRESS_SCRIPT)
        self._retry = DirectScript(self.redis, RETRY_SCRIPT)

    def get(self, job_id: str) -> StoredJob | None:
        return decode(self.redis.hgetall(job_key(job_id)))

    def start(self, job_id: str, max_attempts: int, lease_s: float) -> Claim:
        error = error_json(
            "worker_lost",
            f"the job stopped its worker {max_attempts} times and was given up; "
            "check that the input is not pathological",
        )
        outcome, detail = self._start(
            keys=state_keys(job_id),
            args=[
                self._clock(),
                max_attempts,
                events_channel(job_id),
                error,
                lease_s,
                error_json("expired", EXPIRED_MESSAGE),
            ],
        )
        return Claim(outcome.decode(), detail.decode())

    def renew(self, job_id: str, lease_s: float) -> bool:
        return bool(self._renew(keys=[job_key(job_id)], args=[lease_s]))

    def progress(self, job_id: str, done: float, total: float | None, message: str | None) -> bool:
        """Record a running job's progress (a ``progress`` event); False once it has ended."""
        body = orjson.dumps({"done": done, "total": total, "message": message})
        keys = [job_key(job_id), event_log_key(job_id)]
        return bool(self._progress(keys=keys, args=[body, self._clock(), events_channel(job_id)]))

    def status(self, job_id: str) -> str | None:
        raw: bytes | None = self.redis.hget(job_key(job_id), "status")  # type: ignore[assignment]
        return raw.decode() if raw else None

    def succeed(self, job_id: str, result: Any) -> str:
        return self._end(job_id, JobStatus.SUCCEEDED, "result", orjson.dumps(result))

    def fail(self, job_id: str, code: str, message: str) -> str:
        return self._end(job_id, JobStatus.FAILED, "error", error_json(code, message))

    def _end(self, job_id: str, status: JobStatus, field: str, payload: bytes) -> str:
        args: list[Any] = [status.value, field, payload, self._clock(), events_channel(job_id)]
        outcome: bytes = self._finish(keys=state_keys(job_id), args=args)
        return outcome.decode()

    def retry(
        self,
        job_id: str,
        max_attempts: int,
        error: tuple[str, str],
        backoff: tuple[float, float, float],
    ) -> tuple[str, float]:
        """Record a retryable failure of a running job: ("retry", seconds until its next
        attempt) while attempts remain; ("final", attempts) when none do, or ("gone", 0)
        when it no longer runs. ``backoff``: first delay, longest delay, jitter factor."""
        body = orjson.dumps({"code": error[0], "message": error[1]})[:-1].decode()
        args: list[Any] = [max_attempts, body, self._clock(), *backoff, events_channel(job_id)]
        outcome, detail = self._retry(keys=[job_key(job_id), event_log_key(job_id)], args=args)
        answer = outcome.decode()
        return answer, float(detail) if answer != "gone" else 0.0

    def batch_started(self, job_ids: list[str], ttl_s: int) -> None:
        """Remember the jobs of a batch under its first job's id, for ``ttl_s`` at most."""
        self.redis.set(batch_key(job_ids[0]), orjson.dumps(job_ids), ex=ttl_s)

    def batch_ended(self, first: str) -> None:
        self.redis.delete(batch_key(first))

    def batch_of(self, job_id: str) -> list[str]:
        """The jobs of the running batch that ``job_id`` started; [job_id] when none."""
        raw = self.redis.get(batch_key(job_id))
        return list(orjson.loads(raw)) if raw else [job_id]

    def cache_get(self, name: str) -> Any | None:
        raw = self.redis.get(cache_key(name))
        return orjson.loads(raw) if raw else None

    def cache_set(self, name: str, value: Any, ttl_s: int | None = None) -> None:
        self.redis.set(cache_key(name), orjson.dumps(value), ex=ttl_s)

    def close(self) -> None:
        for script in (self._start, self._finish, self._renew, self._progress, self._retry):
            script.close()
        self.redis.close()
