"""The SDK against an injected transport: what goes on the wire, how answers become typed
errors, retries, and both ways of following a job (event stream, long-poll fallback)."""

from __future__ import annotations

import asyncio
import builtins
import json
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from asyncml.client import (
    APIConnectionError,
    AsyncClient,
    Client,
    ConflictError,
    JobStatus,
    NotFoundError,
    UnavailableError,
    ValidationError,
)
from asyncml.client.sse import SSEDecoder
from asyncml.schemas import JobStatus as ServerJobStatus

URL = "http://asyncml.test"


def job(status: str, job_id: str = "j1", **extra: Any) -> dict[str, Any]:
    return {
        "id": job_id,
        "task": "audio.length",
        "status": status,
        "input": {"url": "https://example.com/a.wav"},
        "result": {"audio_length": 1.5} if status == "succeeded" else None,
        "error": None,
        "attempts": 1,
        "created_at": "2024-01-05T10:00:00Z",
        "expires_at": "2024-01-07T10:00:00Z",
        **extra,
    }


def problem(status: int, code: str, message: str, **headers: str) -> httpx.Response:
    body = {"error": {"code": code, "message": message}}
    return httpx.Response(status, json=body, headers=headers)


def client(handler: Callable[[httpx.Request], httpx.Response], **kwargs: Any) -> Client:
    return Client(URL, transport=httpx.MockTransport(handler), **kwargs)


def test_importing_the_sdk_loads_no_server_code() -> None:
    code = (
        "import sys, asyncml\n"
        "asyncml.Client, asyncml.AsyncClient\n"
        "import asyncml.client\n"
        "heavy = ['fastapi', 'celery', 'redis', 'kombu', 'pydantic', 'numpy',"
        " 'asyncml.models', 'asyncml.api', 'asyncml.worker', 'asyncml.store']\n"
        "print([m for m in sys.modules if any(m == h or m.startswith(h + '.') for h in heavy)])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_statuses_match_the_server() -> None:
    assert [s.value for s in JobStatus] == [s.value for s in ServerJobStatus]
    assert {s for s in JobStatus if s.is_terminal()} == {
        JobStatus(s.value) for s in ServerJobStatus if s.is_terminal()
    }


def test_submit_sends_key_idempotency_and_only_given_fields(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(202, json=job("queued"))

    monkeypatch.setenv("ASYNCML_API_KEY", "from-env")
    with client(handler) as c:
        c.submit("audio.length", {"url": "https://example.com/a.wav"})
        c.submit(
            "audio.length",
            {"url": "https://example.com/a.wav"},
            webhook="https://hooks.example.com/x",
            webhook_events=["started", "completed"],
            idempotency_key="k1",
        )
    with client(handler, api_key="explicit") as c:
        c.submit("audio.length", {"url": "https://example.com/a.wav"})
    first, second, third = seen
    assert first.headers["authorization"] == "Bearer from-env"
    assert third.headers["authorization"] == "Bearer explicit"
    assert json.loads(first.content) == {
        "task": "audio.length",
        "input": {"url": "https://example.com/a.wav"},
    }
    assert first.headers["idempotency-key"].startswith("asyncml-sdk-")
    assert json.loads(second.content)["webhook_events"] == ["started", "completed"]
    assert second.headers["idempotency-key"] == "k1"


def test_no_api_key_sends_no_authorization(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ASYNCML_API_KEY", raising=False)
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=[])

    with client(handler) as c:
        assert c.tasks() == []
    assert "authorization" not in seen[0].headers


@pytest.mark.parametrize(
    ("status", "kind"),
    [(404, NotFoundError), (409, ConflictError), (422, ValidationError)],
)
def test_error_answers_are_typed(status: int, kind: type[Exception]) -> None:
    with (
        client(lambda _: problem(status, "some_code", "what happened")) as c,
        pytest.raises(kind) as caught,
    ):
        c.get_job("j1")
    assert caught.value.status_code == status  # type: ignore[attr-defined]
    assert caught.value.code == "some_code"  # type: ignore[attr-defined]
    assert caught.value.message == "what happened"  # type: ignore[attr-defined]


def test_unavailable_is_retried_after_retry_after() -> None:
    answers = [
        problem(503, "unavailable", "store down", **{"Retry-After": "0"}),
        problem(503, "unavailable", "store down", **{"Retry-After": "0"}),
        httpx.Response(202, json=job("queued")),
    ]
    with client(lambda _: answers.pop(0)) as c:
        assert c.submit("audio.length", {"url": "https://example.com/a.wav"}).id == "j1"
    assert answers == []

    always = problem(503, "unavailable", "broker down", **{"Retry-After": "0"})
    with client(lambda _: always, max_retries=1) as c, pytest.raises(UnavailableError) as caught:
        c.get_job("j1")
    assert caught.value.retry_after == 0
    assert caught.value.code == "unavailable"


def test_unreachable_api_is_a_connection_error() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    unreachable = pytest.raises(APIConnectionError, match="cannot reach the asyncml API")
    with client(refuse, max_retries=0) as c, unreachable:
        c.tasks()


def test_sse_decoder() -> None:
    decoder = SSEDecoder()
    lines = [": heartbeat", "event: status", "id: 1-0", 'data: {"a":', "data: 1}", ""]
    events = [e for e in map(decoder.feed, lines) if e is not None]
    assert [(e.event, e.data, e.id) for e in events] == [("status", '{"a":\n1}', "1-0")]
    assert decoder.last_event_id == "1-0"


def _sse(*events: dict[str, Any]) -> httpx.Response:
    body = ": connected\n\n" + "".join(
        f"event: {e['status']}\nid: {i}\ndata: {json.dumps(e)}\n\n" for i, e in enumerate(events)
    )
    return httpx.Response(200, text=body, headers={"content-type": "text/event-stream"})


def test_events_read_the_event_stream() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/jobs/j1/events":
            # A partial event (status only) updates the last full state it follows.
            return _sse(job("queued"), job("queued"), {"status": "started"}, job("succeeded"))
        return httpx.Response(200, json=job("queued"))

    with client(handler) as c:
        handle = c.job("j1")
        states = list(handle.events(timeout=5))
    assert [s.status for s in states] == ["queued", "started", "succeeded"]
    assert states[1].input == {"url": "https://example.com/a.wav"}
    assert states[-1].result == {"audio_length": 1.5}
    assert handle.info.status is JobStatus.SUCCEEDED


def test_a_dropped_stream_resumes_after_the_last_event() -> None:
    streams = [
        _sse(job("queued"), job("started")),  # the connection drops before the end
        _sse(job("succeeded")),
    ]
    resumed_from: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/events"):
            resumed_from.append(request.headers.get("last-event-id"))
            return streams.pop(0)
        return httpx.Response(200, json=job("started"))

    with client(handler) as c:
        states = [s.status for s in c.job("j1").events(timeout=30)]
    assert states == ["queued", "started", "succeeded"]
    assert resumed_from == [None, "1"]


def test_events_without_a_stream_follow_long_polls() -> None:
    polls = iter([job("queued"), job("queued"), job("started"), job("succeeded")])
    waits: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/events"):
            return problem(404, "not_found", "Not Found")
        waits.append(request.url.params.get("wait"))
        return httpx.Response(200, json=next(polls))

    with client(handler) as c:
        states = list(c.job("j1").events(timeout=30))
    assert [s.status for s in states] == ["queued", "started", "succeeded"]
    # The job() lookup and the first look answer at once; then each look long-polls.
    assert waits[:2] == [None, None] and all(w == "1" for w in waits[2:])


def test_events_of_an_unknown_job_raise_not_found() -> None:
    with client(lambda _: problem(404, "not_found", "no job with id 'x'")) as c:
        from asyncml.client import Job, JobInfo

        handle = Job(c, JobInfo.from_json(job("queued", job_id="x")))
        with pytest.raises(NotFoundError):
            list(handle.events(timeout=5))


def test_wait_timeout_is_also_the_builtin_timeout_error() -> None:
    with client(lambda _: httpx.Response(200, json=job("started"))) as c:
        handle = c.job("j1")
        with pytest.raises(builtins.TimeoutError) as caught:
            handle.wait(timeout=0)
    assert caught.value.job.status is JobStatus.STARTED  # type: ignore[attr-defined]


def test_async_client_events_and_errors() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/jobs/j1/events":
            return _sse(job("queued"), job("started"), job("succeeded"))
        if request.url.path == "/v1/jobs/nope":
            return problem(404, "not_found", "no job with id 'nope'")
        return httpx.Response(202, json=job("queued"))

    async def scenario() -> list[str]:
        async with AsyncClient(URL, transport=httpx.MockTransport(handler)) as c:
            handle = await c.submit("audio.length", {"url": "https://example.com/a.wav"})
            states = [s.status.value async for s in handle.events(timeout=5)]
            with pytest.raises(NotFoundError):
                await c.get_job("nope")
            return states

    assert asyncio.run(scenario()) == ["queued", "started", "succeeded"]


def test_webhook_checks_are_reexported() -> None:
    import asyncml.client
    import asyncml.webhooks

    assert asyncml.client.verify_webhook is asyncml.webhooks.verify
    assert asyncml.client.WebhookVerificationError is asyncml.webhooks.WebhookVerificationError
    with pytest.raises(AttributeError):
        _ = asyncml.client.no_such_name  # type: ignore[attr-defined]


def test_the_errors_of_retried_attempts_are_read() -> None:
    from asyncml.client import JobInfo

    retried = [
        {"code": "busy", "message": "try later", "attempt": 1, "at": "2024-01-05T10:00:01Z"},
        {"code": "busy", "message": "still", "attempt": 2, "at": "2024-01-05T10:00:03Z"},
    ]
    info = JobInfo.from_json(job("succeeded", attempts=3, attempt_errors=retried))
    assert [(e.attempt, e.code, e.message) for e in info.attempt_errors] == [
        (1, "busy", "try later"),
        (2, "busy", "still"),
    ]
    assert JobInfo.from_json(job("queued", attempt_errors=None)).attempt_errors == ()
