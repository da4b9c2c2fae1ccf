"""Store errors as HTTP answers: 503 only for what a retry can cure (a busy pool, an
outage, a failover), a 500 for the rest: never "unreachable" for a store that answered."""

from __future__ import annotations

import orjson
import pytest
import redis

from asyncml.api.problems import store_problem
from asyncml.store.connections import PoolExhaustedError


def _answer(exc: redis.RedisError) -> tuple[int, str, str | None]:
    response = store_problem(exc)
    message: str = orjson.loads(response.body)["error"]["message"]
    return response.status_code, message, response.headers.get("retry-after")


def test_a_busy_pool_is_503_busy() -> None:
    status, message, retry = _answer(PoolExhaustedError(100, 10))
    assert (status, retry) == (503, "2") and "busy" in message


@pytest.mark.parametrize(
    "exc",
    [
        redis.ConnectionError("Connection refused"),
        redis.TimeoutError("Timeout reading from socket"),
        redis.BusyLoadingError("Redis is loading the dataset in memory"),
        redis.ReadOnlyError("You can't write against a read only replica."),
        redis.ResponseError("OOM command not allowed when used memory > 'maxmemory'."),
    ],
)
def test_an_outage_or_failover_is_503(exc: redis.RedisError) -> None:
    status, message, retry = _answer(exc)
    assert (status, retry) == (503, "2") and "busy" not in message


@pytest.mark.parametrize(
    "exc",
    [
        redis.ResponseError("Invalid stream ID specified as stream command argument"),
        redis.DataError("Invalid input of type: 'NoneType'"),
    ],
)
def test_a_request_the_store_refused_is_500_not_unreachable(exc: redis.RedisError) -> None:
    status, message, retry = _answer(exc)
    assert (status, retry) == (500, None) and "unreachable" not in message
