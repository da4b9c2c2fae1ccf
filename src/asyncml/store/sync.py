"""The job store's synchronous face, used by worker processes."""

from __future__ import annotations

from typing import Any

import orjson
import redis
from redis.exceptions import NoScriptError

from asyncml.schemas import JobStatus
from asyncml.store.records import (
    _FINISH,
    _RENEW,
    _START,
    Claim,
    StoredJob,
    _error_json,
    _now,
    cache_key,
    decode,
    events_channel,
    job_key,
    state_keys,
)


class PooledScript:
    """A Lua script run with EVALSHA on a connection taken straight from the client's pool.

    redis-py's command path (retry wrapper, argument checks, event dispatch, the client's
    response callbacks) costs about as much CPU again as sending the command and reading
    the reply, and a worker runs two scripts per job. A dropped connection is retried once
    on a fresh one, as the client's own retry would; a server that lost its scripts
    (restarted) gets the script loaded again.
    """

    def __init__(self, client: redis.Redis, source: str) -> None:
        self._client = client
        self._script = client.register_script(source)

    def __call__(self, keys: list[str], args: list[Any]) -> Any:
        pool = self._client.connection_pool
        for attempt in range(2):
            connection = pool.get_connection()
            try:
                connection.send_command(  # type: ignore[no-untyped-call]
                    "EVALSHA", self._script.sha, len(keys), *keys, *args
                )
                return connection.read_response()
            except NoScriptError:
                return self._script(keys=keys, args=args)  # loads it and runs it
            except (redis.ConnectionError, redis.TimeoutError):
                connection.disconnect()  # type: ignore[no-untyped-call]
                if attempt:
                    raise
            finally:
                pool.release(connection)
        raise AssertionError("unreachable")


class JobStore:
    """Synchronous job store for worker processes."""

    def __init__(self, url: str, retention_s: int) -> None:
        self.redis = redis.Redis.from_url(url, socket_timeout=10, health_check_interval=30)
        self.retention_s = retention_s
        self._start = PooledScript(self.redis, _START)
        self._finish = PooledScript(self.redis, _FINISH)
        self._renew = PooledScript(self.redis, _RENEW)

    def get(self, job_id: str) -> StoredJob | None:
        return decode(self.redis.hgetall(job_key(job_id)))

    def start(self, job_id: str, max_attempts: int, lease_s: float) -> Claim:
        error = _error_json(
            "worker_lost",
            f"the job stopped its worker {max_attempts} times and was given up; "
            "check that the input is not pathological",
        )
        outcome, detail = self._start(
            keys=state_keys(job_id),
            args=[_now(), max_attempts, events_channel(job_id), error, lease_s],
        )
        return Claim(outcome.decode(), detail.decode())

    def renew(self, job_id: str, lease_s: float) -> bool:
        return bool(self._renew(keys=[job_key(job_id)], args=[_now() + lease_s]))

    def succeed(self, job_id: str, result: Any) -> str:
        return self._end(job_id, JobStatus.SUCCEEDED, "result", orjson.dumps(result))

    def fail(self, job_id: str, code: str, message: str) -> str:
        return self._end(job_id, JobStatus.FAILED, "error", _error_json(code, message))

    def _end(self, job_id: str, status: JobStatus, field: str, payload: bytes) -> str:
        args: list[Any] = [status.value, field, payload, _now(), events_channel(job_id)]
        outcome: bytes = self._finish(keys=state_keys(job_id), args=args)
        return outcome.decode()

    def cache_get(self, name: str) -> Any | None:
        raw = self.redis.get(cache_key(name))
        return orjson.loads(raw) if raw else None

    def cache_set(self, name: str, value: Any, ttl_s: int | None = None) -> None:
        self.redis.set(cache_key(name), orjson.dumps(value), ex=ttl_s)

    def close(self) -> None:
        self.redis.close()
