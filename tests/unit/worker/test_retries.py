"""Retries with a policy: which errors are retryable, and the store's retry script (a real,
flushed Redis): attempts left keep the job started with its error kept, none left is final."""

from __future__ import annotations

import time
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

import asyncml
from asyncml.authoring import TaskDefinition, TaskDefinitionError, definition_of
from asyncml.errors import DownloadError, FetchTimeoutError, JobError, UnsupportedMediaError
from asyncml.net import Egress, EgressPolicy
from asyncml.settings import Settings
from asyncml.store import JobStore
from asyncml.worker.retries import retry_in
from tests.plugins.fixture_tasks import Nothing
from tests.plugins.runtime_tasks import FlakyTask
from tests.unit.test_store import create

# Never sleeps: the first delay, the longest, the jitter factor.
BACKOFF = (2.0, 5.0, 1.0)


def test_which_errors_are_retryable() -> None:
    assert asyncml.TaskError("busy", "the model server is busy", retryable=True).retryable
    assert not asyncml.TaskError("no_speech", "no speech").retryable
    assert FetchTimeoutError("slow").retryable
    assert not UnsupportedMediaError("not audio").retryable
    assert not JobError("plain").retryable


@pytest.mark.parametrize(
    ("status", "retryable"),
    [(404, False), (403, False), (408, True), (429, True), (500, True), (503, True)],
)
def test_http_statuses_that_may_pass_are_retryable(status: int, retryable: bool) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status)

    policy = EgressPolicy(allow=("127.0.0.1",))
    with (
        Egress(policy, transport=httpx.MockTransport(answer)) as egress,
        pytest.raises(DownloadError) as caught,
    ):
        egress.fetch("http://127.0.0.1:9/a.wav")
    assert caught.value.retryable is retryable


def test_a_refused_connection_is_retryable() -> None:
    with (
        Egress(EgressPolicy(allow=("127.0.0.1",))) as egress,
        pytest.raises(DownloadError) as caught,
    ):
        egress.fetch("http://127.0.0.1:9/a.wav")
    assert caught.value.retryable


def test_retry_keeps_the_job_started_until_its_attempts_run_out(store: JobStore) -> None:
    job_id, _ = create()
    assert store.start(job_id, 3, 15).detail == "1"
    before = time.time()
    answer, delay = store.retry(job_id, 3, ("busy", "try later"), BACKOFF)
    assert (answer, delay) == ("retry", 2.0)
    job = store.get(job_id)
    assert job is not None and job.job.status == "started" and job.job.error is None
    (first,) = job.job.attempt_errors or []
    assert (first.attempt, first.code, first.message) == (1, "busy", "try later")
    assert before <= first.at.timestamp() <= time.time()
    # Leased until the retry is due: a delivery before then waits.
    claim = store.start(job_id, 3, 15)
    assert claim.outcome == "busy" and 1.0 < float(claim.detail) <= 2.0
    store.redis.hset(f"asyncml:job:{job_id}", "lease_until", "0")  # the retry is due
    assert store.start(job_id, 3, 15).detail == "2"
    assert store.retry(job_id, 3, ("busy", "again"), BACKOFF) == ("retry", 4.0)  # doubled
    store.redis.hset(f"asyncml:job:{job_id}", "lease_until", "0")
    assert store.start(job_id, 3, 15).detail == "3"
    assert store.retry(job_id, 3, ("busy", "third"), BACKOFF) == ("final", 3.0)
    assert store.fail(job_id, "busy", "third") == "ok"
    done = store.get(job_id)
    assert done is not None and done.job.status == "failed"
    assert [e.attempt for e in done.job.attempt_errors or []] == [1, 2]


def test_the_longest_delay_caps_the_backoff(store: JobStore) -> None:
    job_id, _ = create()
    for attempt in range(1, 5):
        store.redis.hset(f"asyncml:job:{job_id}", "lease_until", "0")
        assert store.start(job_id, 10, 15).detail == str(attempt)
        _, delay = store.retry(job_id, 10, ("busy", "x"), BACKOFF)
    assert delay == 5.0  # 2, 4, 5, 5


def test_a_job_canceled_meanwhile_is_not_retried(store: JobStore) -> None:
    job_id, _ = create()
    store.start(job_id, 3, 15)
    store.redis.hset(f"asyncml:job:{job_id}", "status", "canceled")
    assert store.retry(job_id, 3, ("busy", "x"), BACKOFF) == ("gone", 0.0)


class _Task:
    """What retry_in needs of a JobTask: the worker's context and the attempts limit."""

    def __init__(self, store: JobStore, **settings: object) -> None:
        self.context = SimpleNamespace(store=store, settings=Settings(**settings))  # type: ignore[arg-type]

    def max_attempts(self, definition: TaskDefinition) -> int:
        return definition.limits.max_attempts or self.context.settings.max_attempts


@asyncml.task("t.declared", retry_on=("download_failed",), max_attempts=2)
class Declared:
    def run(self, input: Nothing, ctx: asyncml.Context) -> Nothing:
        return input


def test_the_policy_decides_what_is_retried(store: JobStore) -> None:
    definition = definition_of(Declared)
    assert definition.manifest()["limits"]["retry_on"] == ["download_failed"]
    task: Any = _Task(store, retry_backoff_s=1.0)
    job_id, _ = create()
    store.start(job_id, 2, 15)
    # Not retryable, not declared: the caller fails the job.
    assert retry_in(task, definition, job_id, UnsupportedMediaError("not audio")) is None
    # Declared by the task, though not marked retryable.
    delay = retry_in(task, definition, job_id, DownloadError("HTTP 404"))
    assert delay is not None and 0.8 <= delay <= 1.2
    store.redis.hset(f"asyncml:job:{job_id}", "lease_until", "0")
    store.start(job_id, 2, 15)
    assert retry_in(task, definition, job_id, DownloadError("HTTP 404")) is None  # 2 of 2


def test_transient_download_failures_follow_the_setting(store: JobStore) -> None:
    definition = definition_of(FlakyTask)
    for transient, expected in ((True, True), (False, False)):
        job_id, _ = create()
        store.start(job_id, 3, 15)
        task: Any = _Task(store, retry_transient=transient)
        retried = retry_in(task, definition, job_id, FetchTimeoutError("slow"))
        assert (retried is not None) is expected
        # A task's own retryable error is retried either way.
        assert retry_in(task, definition, job_id, asyncml.TaskError("x", "y", retryable=True))


def test_retry_on_takes_error_codes_only() -> None:
    with pytest.raises(TaskDefinitionError, match="retry_on"):
        asyncml.task("t.bad", retry_on=("Not A Code",))
