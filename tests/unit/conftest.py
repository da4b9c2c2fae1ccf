"""A real, flushed Redis database for unit tests of the store's scripts."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from asyncml.store import JobStore
from tests.conftest import UNIT_DB, require_service

URL = f"redis://127.0.0.1:6379/{UNIT_DB}"


@pytest.fixture
def store() -> Iterator[JobStore]:
    require_service("Redis", "127.0.0.1", 6379)
    client = redis.Redis.from_url(URL)
    client.flushdb()
    sync = JobStore(URL, retention_s=3600)
    yield sync
    sync.close()
    client.flushdb()
