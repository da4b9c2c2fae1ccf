"""The asyncio client: ``AsyncClient`` and its ``AsyncJob`` handles, mirroring ``Client``."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import time
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from typing import Any

import httpx

from asyncml.client import _core, errors
from asyncml.client.files import FileRef, Upload, local_paths, with_urls
from asyncml.client.models import JobInfo, JobStatus, Outcome, TaskInfo
from asyncml.client.sse import SSEDecoder, StatusChanges, apply_event


class AsyncJob:
    """A handle on one job. ``info`` is the state last seen; the methods ask the API."""

    def __init__(self, client: AsyncClient, info: JobInfo) -> None:
        self._client = client
        self.info = info
        self._has_stream = True
        self._last_event_id: str | None = None  # where a reconnected stream resumes

    @property
    def id(self) -> str:
        return self.info.id

    def __repr__(self) -> str:
        return f"<AsyncJob {self.id} {self.info.task} {self.info.status.value}>"

    async def refresh(self, wait: float = 0) -> JobInfo:
        self.info = await self._client.get_job(self.id, wait=wait)
        return self.info

    async def status(self) -> JobStatus:
        return (await self.refresh()).status

    async def wait(self, timeout: float | None = _core.DEFAULT_WAIT_S) -> JobInfo:
        """Until the job finishes (long-polling); ``TimeoutError`` after ``timeout`` s."""
        if self.info.status.is_terminal():
            return self.info
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            remaining = _core.remaining(deadline)
            step = _core.LONG_POLL_S if remaining is None else min(remaining, _core.LONG_POLL_S)
            await self.refresh(wait=max(0.0, step))
            if self.info.status.is_terminal():
                return self.info
            if deadline is not None and time.monotonic() >= deadline:
                raise _core.timed_out(self.id, timeout, self.info)

    async def result(self, timeout: float | None = _core.DEFAULT_WAIT_S) -> Any:
        """The job's result; ``JobFailedError`` (with ``.code``) if it did not succeed."""
        info = await self.wait(timeout)
        if not info.ok:
            raise errors.JobFailedError(info)
        return info.result

    async def cancel(self) -> JobInfo:
        self.info = await self._client.cancel(self.id)
        return self.info

    async def events(self, timeout: float | None = _core.DEFAULT_WAIT_S) -> AsyncIterator[JobInfo]:
        """The job's state at once and at each status change, until it finishes (see
        ``Job.events``)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        changes = StatusChanges()
        streaming, wait_s = True, 0.0
        while True:
            if streaming:
                streaming = False
                async for info in self._stream(deadline):
                    streaming, wait_s = self._has_stream, _core.EVENTS_POLL_S
                    self.info = info
                    for changed in changes(info):
                        yield changed
            if changes.last is not None and self.info.status.is_terminal():
                return
            remaining = _core.remaining(deadline)
            if remaining is not None and remaining <= 0:
                raise _core.timed_out(self.id, timeout, self.info)
            step = wait_s if remaining is None else min(wait_s, remaining)
            for changed in changes(await self.refresh(wait=step)):
                yield changed
            if self.info.status.is_terminal():
                return
            wait_s = _core.EVENTS_POLL_S

    async def _stream(self, deadline: float | None) -> AsyncIterator[JobInfo]:
        client = self._client
        timeout = _core.stream_timeout(client._timeout, deadline)
        try:
            async with client._http.stream(
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
                    yield await client.get_job(self.id)
                    return
                decoder = SSEDecoder()
                info = self.info
                async for line in response.aiter_lines():
                    event = decoder.feed(line)
                    if event is None:
                        continue
                    self._last_event_id = decoder.last_event_id or self._last_event_id
                    info = apply_event(info, event)
                    yield info
                    if info.status.is_terminal():
                        return
        except httpx.TransportError:
            return


class AsyncClient:
    """The asyncio twin of ``Client`` (same arguments, same defaults, awaitable methods).

    async with AsyncClient() as client:
        job = await client.submit("euro.results", {"draw_date": "2024-01-05"})
        async for state in job.events():
            print(state.status)
    """

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        *,
        timeout: float | httpx.Timeout = _core.DEFAULT_TIMEOUT,
        max_retries: int = 2,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = _core.resolve_url(base_url)
        self._timeout = timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout)
        self._retry = _core.RetryPolicy(max_retries=max_retries)
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            headers=_core.headers(_core.resolve_api_key(api_key)),
            timeout=self._timeout,
            transport=transport,
        )

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _request(
        self,
        method: str,
        path: str,
        *,
        safe: bool,
        timeout: httpx.Timeout | None = None,
        body: Any = None,
        **kwargs: Any,
    ) -> Any:
        """``body``: makes the request's content anew for each attempt (a stream)."""
        attempt = 0
        while True:
            try:
                if body is not None:
                    kwargs["content"] = body()
                response = await self._http.request(
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
                await asyncio.sleep(self._retry.delay(attempt, exc))
                attempt += 1

    async def upload(
        self,
        file: str | os.PathLike[str] | bytes,
        *,
        name: str | None = None,
        content_type: str | None = None,
    ) -> FileRef:
        """Upload a local file or bytes (awaitable ``Client.upload``)."""
        upload = Upload.of(file, name, content_type)
        data = await self._request(
            "POST", "/v1/files", safe=True, body=upload.acontent, **upload.request()
        )
        return FileRef.from_json(data)

    async def _with_uploads(self, input: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
        if not local_paths(input):
            return input
        urls = {path: (await self.upload(path)).url for path in local_paths(input)}
        return dict(with_urls(input, urls.__getitem__))

    async def submit(
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
    ) -> AsyncJob:
        data = await self._request(
            "POST",
            "/v1/jobs",
            safe=True,
            json=_core.job_body(
                task,
                await self._with_uploads(input),
                webhook,
                webhook_events,
                _core.schedule(priority, deadline, start_within_s, timeout_s),
            ),
            headers={"Idempotency-Key": _core.idempotency_key(idempotency_key)},
        )
        return AsyncJob(self, JobInfo.from_json(data))

    async def job(self, job_id: str) -> AsyncJob:
        return AsyncJob(self, await self.get_job(job_id))

    async def get_job(self, job_id: str, *, wait: float = 0) -> JobInfo:
        params = {"wait": f"{wait:g}"} if wait > 0 else None
        timeout = _core.with_wait(self._timeout, wait) if wait > 0 else None
        data = await self._request(
            "GET", f"/v1/jobs/{job_id}", safe=True, params=params, timeout=timeout
        )
        return JobInfo.from_json(data)

    async def cancel(self, job_id: str) -> JobInfo:
        try:
            data = await self._request("POST", f"/v1/jobs/{job_id}/cancel", safe=False)
        except errors.ConflictError:
            info = await self.get_job(job_id)
            if info.status is JobStatus.CANCELED:
                return info
            raise
        return JobInfo.from_json(data)

    async def list_jobs(
        self,
        *,
        status: JobStatus | str | None = None,
        task: str | None = None,
        limit: int | None = None,
        page_size: int = 50,
    ) -> AsyncIterator[JobInfo]:
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
            page = await self._request("GET", "/v1/jobs", safe=True, params=params)
            for item in page.get("items", []):
                seen += 1
                yield JobInfo.from_json(item)
            cursor = page.get("next_cursor")
            if not cursor:
                return

    async def tasks(self) -> list[TaskInfo]:
        return [TaskInfo.from_json(t) for t in await self._request("GET", "/v1/tasks", safe=True)]

    async def submit_many(
        self,
        task: str,
        inputs: Iterable[Mapping[str, Any]],
        *,
        concurrency: int = _core.DEFAULT_CONCURRENCY,
        webhook: str | None = None,
        webhook_events: Sequence[str] | None = None,
    ) -> list[AsyncJob]:
        limit = asyncio.Semaphore(max(1, concurrency))

        async def one(item: Mapping[str, Any]) -> AsyncJob:
            async with limit:
                return await self.submit(task, item, webhook=webhook, webhook_events=webhook_events)

        return list(await asyncio.gather(*(one(item) for item in inputs)))

    async def _run_one(
        self, index: int, task: str, item: dict[str, Any], timeout: float | None, **opts: Any
    ) -> Outcome:
        job: AsyncJob | None = None
        try:
            job = await self.submit(task, item, **opts)
            info = await job.wait(timeout)
        except errors.ClientError as exc:
            return Outcome(index, item, job.info if job else None, exc)
        return Outcome(index, item, info, None if info.ok else errors.JobFailedError(info))

    async def batch(
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
    ) -> AsyncIterator[Outcome]:
        """Each input's ``Outcome`` as it finishes, ``concurrency`` unfinished at a time."""
        limit = asyncio.Semaphore(max(1, concurrency))
        opts = {"webhook": webhook, "webhook_events": webhook_events}
        opts |= _core.schedule(priority, deadline, start_within_s, timeout_s)

        async def one(index: int, item: dict[str, Any]) -> Outcome:
            async with limit:
                return await self._run_one(index, task, item, timeout, **opts)

        running = [asyncio.ensure_future(one(i, dict(item))) for i, item in enumerate(inputs)]
        try:
            for finished in asyncio.as_completed(running):
                yield await finished
        finally:
            for task_ in running:
                task_.cancel()

    async def map(
        self,
        task: str,
        inputs: Iterable[Mapping[str, Any]],
        *,
        concurrency: int = _core.DEFAULT_CONCURRENCY,
        timeout: float | None = _core.DEFAULT_WAIT_S,
        return_exceptions: bool = False,
    ) -> list[Any]:
        """Each input's result in input order (awaitable ``Client.map``)."""
        outcomes = [
            o async for o in self.batch(task, inputs, concurrency=concurrency, timeout=timeout)
        ]
        results: list[Any] = []
        for outcome in sorted(outcomes, key=lambda o: o.index):
            if outcome.error is None:
                results.append(outcome.result)
            elif return_exceptions:
                results.append(outcome.error)
            else:
                raise outcome.error
        return results
