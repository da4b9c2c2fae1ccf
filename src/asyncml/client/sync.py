"""The blocking client: ``Client`` and its ``Job`` handles."""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any

import httpx

from asyncml.client import _core, errors
from asyncml.client.files import FileRef, Upload, uploading
from asyncml.client.models import JobInfo, JobStatus, Outcome, TaskInfo
from asyncml.client.sse import SSEDecoder, StatusChanges, apply_event


class Job:
    """A handle on one job. ``info`` is the state last seen; the methods ask the API."""

    def __init__(self, client: Client, info: JobInfo) -> None:
        self._client = client
        self.info = info
        self._has_stream = True
        self._last_event_id: str | None = None  # where a reconnected stream resumes

    @property
    def id(self) -> str:
        return self.info.id

    def __repr__(self) -> str:
        return f"<Job {self.id} {self.info.task} {self.info.status.value}>"

    def refresh(self, wait: float = 0) -> JobInfo:
        """Fetch the job; with ``wait``, the server answers as soon as it finishes."""
        self.info = self._client.get_job(self.id, wait=wait)
        return self.info

    def status(self) -> JobStatus:
        """The job's status now."""
        return self.refresh().status

    def wait(self, timeout: float | None = _core.DEFAULT_WAIT_S) -> JobInfo:
        """Block until the job finishes (long-polling, no busy loop) and return it.

        Raises ``TimeoutError`` after ``timeout`` seconds (``None``: no limit); the job
        goes on running. A failed job is returned, not raised: see ``result()``.
        """
        if self.info.status.is_terminal():
            return self.info
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            remaining = _core.remaining(deadline)
            step = _core.LONG_POLL_S if remaining is None else min(remaining, _core.LONG_POLL_S)
            self.refresh(wait=max(0.0, step))
            if self.info.status.is_terminal():
                return self.info
            if deadline is not None and time.monotonic() >= deadline:
                raise _core.timed_out(self.id, timeout, self.info)

    def result(self, timeout: float | None = _core.DEFAULT_WAIT_S) -> Any:
        """Wait for the job and return its result; ``JobFailedError`` (with ``.code``) if it
        failed, was canceled or expired."""
        info = self.wait(timeout)
        if not info.ok:
            raise errors.JobFailedError(info)
        return info.result

    def cancel(self) -> JobInfo:
        """Cancel the job: a queued one never runs, a running one is stopped.
        ``ConflictError`` if it had already finished otherwise."""
        self.info = self._client.cancel(self.id)
        return self.info

    def events(self, timeout: float | None = _core.DEFAULT_WAIT_S) -> Iterator[JobInfo]:
        """Yield the job's state at once and again at each status change, until it finishes.

        Reads the server's event stream (``GET /v1/jobs/{id}/events``) where there is one;
        where there is not, short long-polls notice each change within about a second.
        ``TimeoutError`` after ``timeout`` seconds (``None``: no limit).
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        changes = StatusChanges()
        streaming, wait_s = True, 0.0
        while True:
            if streaming:
                streaming = False
                for info in self._stream(deadline):
                    streaming, wait_s = self._has_stream, _core.EVENTS_POLL_S
                    self.info = info
                    yield from changes(info)
            if changes.last is not None and self.info.status.is_terminal():
                return
            remaining = _core.remaining(deadline)
            if remaining is not None and remaining <= 0:
                raise _core.timed_out(self.id, timeout, self.info)
            step = wait_s if remaining is None else min(wait_s, remaining)
            yield from changes(self.refresh(wait=step))
            if self.info.status.is_terminal():
                return
            wait_s = _core.EVENTS_POLL_S

    def _stream(self, deadline: float | None) -> Iterator[JobInfo]:
        """The event stream's states; without a stream, the state now; nothing if it broke."""
        client = self._client
        timeout = _core.stream_timeout(client._timeout, deadline)
        try:
            with client._http.stream(
                "GET",
                f"/v1/jobs/{self.id}/events",
                headers=_core.stream_headers(self._last_event_id),
                timeout=timeout,
            ) as response:
                kind = response.headers.get("content-type", "")
                self._has_stream = response.status_code == 200 and kind.startswith(
                    "text/event-stream"
                )
                if not self._has_stream:
                    # No stream here: the job's state now (NotFoundError if the job, rather
                    # than the route, is missing), then long-polls take over.
                    yield client.get_job(self.id)
                    return
                decoder = SSEDecoder()
                info = self.info
                for line in response.iter_lines():
                    event = decoder.feed(line)
                    if event is None:
                        continue
                    self._last_event_id = decoder.last_event_id or self._last_event_id
                    info = apply_event(info, event)
                    yield info
                    if info.status.is_terminal():
                        return
        except httpx.TransportError:
            return  # the long-poll fallback takes over


class Client:
    """A client for the asyncml API.

    ``base_url`` defaults to ``ASYNCML_URL``, else ``http://127.0.0.1:5000``; ``api_key``
    to ``ASYNCML_API_KEY`` (sent as ``Authorization: Bearer``). Requests time out after
    ``timeout`` (30 s, connect 5 s); unavailable answers (429/502/503/504, honouring
    ``Retry-After``) and failed connections are retried ``max_retries`` times with
    exponential backoff. ``transport`` replaces the network, e.g. ``httpx.MockTransport``.

        with Client() as client:
            job = client.submit("audio.length", {"url": "https://example.com/a.wav"})
            print(job.result()["audio_length"])
    """

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        *,
        timeout: float | httpx.Timeout = _core.DEFAULT_TIMEOUT,
        max_retries: int = 2,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = _core.resolve_url(base_url)
        self._timeout = timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout)
        self._retry = _core.RetryPolicy(max_retries=max_retries)
        self._http = httpx.Client(
            base_url=self.base_url,
            headers=_core.headers(_core.resolve_api_key(api_key)),
            timeout=self._timeout,
            transport=transport,
        )

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _request(
        self,
        method: str,
        path: str,
        *,
        safe: bool,
        timeout: httpx.Timeout | None = None,
        body: Any = None,
        **kwargs: Any,
    ) -> Any:
        attempt = 0  # body(): the content, made anew for each attempt (a stream)
        while True:
            try:
                if body is not None:
                    kwargs["content"] = body()
                response = self._http.request(
                    method, path, timeout=timeout or self._timeout, **kwargs
                )
                if response.is_error:
                    raise _core.api_error(response)
                return response.json()
            except (httpx.TransportError, errors.UnavailableError) as exc:
                if not self._retry.should_retry(attempt, exc, safe):
                    if isinstance(exc, httpx.TransportError):
                        raise _core.connection_error(exc, self.base_url) from exc
                    raise
                time.sleep(self._retry.delay(attempt, exc))
                attempt += 1

    # ---- files ----------------------------------------------------------------------------

    def upload(
        self,
        file: str | os.PathLike[str] | bytes,
        *,
        name: str | None = None,
        content_type: str | None = None,
    ) -> FileRef:
        """Upload a local file (streamed from disk) or bytes; pass the returned ``url``
        where a job input takes a URL. ``submit`` does this for ``os.PathLike`` values."""
        upload = Upload.of(file, name, content_type)
        data = self._request(
            "POST", "/v1/files", safe=True, body=upload.content, **upload.request()
        )
        return FileRef.from_json(data)

    # ---- jobs -----------------------------------------------------------------------------

    def submit(
        self,
        task: str,
        input: Mapping[str, Any] | None = None,
        *,
        webhook: str | None = None,
        webhook_events: Sequence[str] | None = None,
        idempotency_key: str | None = None,
        priority: int | None = None,
        deadline: dt.datetime | str | None = None,
        start_within_s: float | None = None,
        timeout_s: float | None = None,
    ) -> Job:
        """Queue a job and return its handle at once. The same ``idempotency_key`` with the
        same body returns the same job; with another body, ``ConflictError``. Local paths
        (``os.PathLike``) in ``input`` are uploaded first. ``priority`` 0-9 (higher starts
        first); not started by ``deadline`` (aware datetime or RFC 3339) or within
        ``start_within_s``, the job expires; ``timeout_s``: its own time limit."""
        data = self._request(
            "POST",
            "/v1/jobs",
            safe=True,  # always sent with an Idempotency-Key
            json=_core.job_body(
                task,
                uploading(input, lambda path: self.upload(path).url),
                webhook,
                webhook_events,
                _core.schedule(priority, deadline, start_within_s, timeout_s),
            ),
            headers={"Idempotency-Key": _core.idempotency_key(idempotency_key)},
        )
        return Job(self, JobInfo.from_json(data))

    def job(self, job_id: str) -> Job:
        """A handle on an existing job (one request, so an unknown id fails here)."""
        return Job(self, self.get_job(job_id))

    def get_job(self, job_id: str, *, wait: float = 0) -> JobInfo:
        params = {"wait": f"{wait:g}"} if wait > 0 else None
        timeout = _core.with_wait(self._timeout, wait) if wait > 0 else None
        data = self._request("GET", f"/v1/jobs/{job_id}", safe=True, params=params, timeout=timeout)
        return JobInfo.from_json(data)

    def cancel(self, job_id: str) -> JobInfo:
        """Cancel a job; ``ConflictError`` if it already finished (other than canceled)."""
        try:
            data = self._request("POST", f"/v1/jobs/{job_id}/cancel", safe=False)
        except errors.ConflictError:
            # A retried cancel whose first attempt went through lands here: not an error.
            info = self.get_job(job_id)
            if info.status is JobStatus.CANCELED:
                return info
            raise
        return JobInfo.from_json(data)

    def list_jobs(
        self,
        *,
        status: JobStatus | str | None = None,
        task: str | None = None,
        limit: int | None = None,
        page_size: int = 50,
    ) -> Iterator[JobInfo]:
        """Your jobs, newest first, following pages until ``limit`` (``None``: all)."""
        cursor: str | None = None
        seen = 0
        while True:
            size = page_size if limit is None else min(page_size, limit - seen)
            if size <= 0:
                return
            params: dict[str, Any] = {"limit": size}
            if status is not None:
                params["status"] = str(status)
            if task is not None:
                params["task"] = task
            if cursor is not None:
                params["cursor"] = cursor
            page = self._request("GET", "/v1/jobs", safe=True, params=params)
            for item in page.get("items", []):
                seen += 1
                yield JobInfo.from_json(item)
            cursor = page.get("next_cursor")
            if not cursor:
                return

    def tasks(self) -> list[TaskInfo]:
        """What this API can run, with input/output JSON Schemas and queue depth."""
        return [TaskInfo.from_json(t) for t in self._request("GET", "/v1/tasks", safe=True)]

    # ---- batches ------------------------------------------------------------------------

    def submit_many(
        self,
        task: str,
        inputs: Iterable[Mapping[str, Any]],
        *,
        concurrency: int = _core.DEFAULT_CONCURRENCY,
        webhook: str | None = None,
        webhook_events: Sequence[str] | None = None,
    ) -> list[Job]:
        """Queue one job per input, ``concurrency`` requests at a time; handles in input
        order. The first refused input's error is raised once all requests are done."""

        def one(item: Mapping[str, Any]) -> Job:
            return self.submit(task, item, webhook=webhook, webhook_events=webhook_events)

        with ThreadPoolExecutor(max(1, concurrency), thread_name_prefix="asyncml") as pool:
            futures = [pool.submit(one, item) for item in inputs]
        return [f.result() for f in futures]

    def _run_one(
        self, index: int, task: str, item: dict[str, Any], timeout: float | None, **opts: Any
    ) -> Outcome:
        job: Job | None = None
        try:
            job = self.submit(task, item, **opts)
            info = job.wait(timeout)
        except errors.ClientError as exc:
            return Outcome(index, item, job.info if job else None, exc)
        return Outcome(index, item, info, None if info.ok else errors.JobFailedError(info))

    def batch(
        self,
        task: str,
        inputs: Iterable[Mapping[str, Any]],
        *,
        concurrency: int = _core.DEFAULT_CONCURRENCY,
        timeout: float | None = _core.DEFAULT_WAIT_S,
        webhook: str | None = None,
        webhook_events: Sequence[str] | None = None,
        priority: int | None = None,
        deadline: dt.datetime | str | None = None,
        start_within_s: float | None = None,
        timeout_s: float | None = None,
    ) -> Iterator[Outcome]:
        """Run one job per input with at most ``concurrency`` unfinished at a time, and
        yield each ``Outcome`` as it finishes (completion order; ``.index`` says which
        input). Never raises for one input: its error is in the outcome."""
        items = [dict(i) for i in inputs]
        opts = {"webhook": webhook, "webhook_events": webhook_events}
        opts |= _core.schedule(priority, deadline, start_within_s, timeout_s)
        pool = ThreadPoolExecutor(max(1, concurrency), thread_name_prefix="asyncml")
        pending: set[Future[Outcome]] = {
            pool.submit(self._run_one, i, task, item, timeout, **opts)
            for i, item in enumerate(items)
        }
        try:
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    yield future.result()
        finally:
            # Stopped early: what has not started never will; what runs finishes its wait.
            pool.shutdown(wait=False, cancel_futures=True)

    def map(
        self,
        task: str,
        inputs: Iterable[Mapping[str, Any]],
        *,
        concurrency: int = _core.DEFAULT_CONCURRENCY,
        timeout: float | None = _core.DEFAULT_WAIT_S,
        return_exceptions: bool = False,
    ) -> Iterator[Any]:
        """Like ``Executor.map``: each input's result, in input order. The first failure
        is raised (``JobFailedError``, ``ValidationError``, …) unless ``return_exceptions``,
        which yields the error in its place."""
        ready: dict[int, Outcome] = {}
        following = 0
        for outcome in self.batch(task, inputs, concurrency=concurrency, timeout=timeout):
            ready[outcome.index] = outcome
            while following in ready:
                done = ready.pop(following)
                following += 1
                if done.error is None:
                    yield done.result
                elif return_exceptions:
                    yield done.error
                else:
                    raise done.error
