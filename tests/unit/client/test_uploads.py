"""Uploads and job scheduling options in the SDK, against an injected transport."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from asyncml.client import AsyncClient, Client, UnavailableError

URL = "http://asyncml.test"


class Server:
    """Answers uploads and submits, and keeps what it was sent."""

    def __init__(self, fail_uploads: int = 0) -> None:
        self.uploads: list[tuple[dict[str, str], bytes]] = []
        self.jobs: list[dict[str, Any]] = []
        self.fail_uploads = fail_uploads

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/files":
            body = request.read()
            if self.fail_uploads:
                self.fail_uploads -= 1
                return httpx.Response(503, json={"error": {"code": "x", "message": "busy"}})
            self.uploads.append((dict(request.headers) | dict(request.url.params), body))
            file_id = f"{len(self.uploads):032x}"
            return httpx.Response(
                201,
                json={
                    "id": file_id,
                    "url": f"asyncml://files/{file_id}",
                    "size": len(body),
                    "content_type": request.headers.get("content-type"),
                    "name": request.url.params.get("name"),
                    "created_at": "2026-01-01T00:00:00Z",
                    "expires_at": "2026-01-03T00:00:00Z",
                },
            )
        sent = json.loads(request.content)
        self.jobs.append(sent)
        job = {"id": "j1", "task": sent["task"], "status": "queued", "input": sent["input"]}
        return httpx.Response(202, json=job | {"priority": sent.get("priority", 0)})


def test_paths_in_an_input_are_uploaded_once_and_replaced(tmp_path: Path) -> None:
    (tmp_path / "a.wav").write_bytes(b"RIFF" + bytes(300_000))
    server = Server(fail_uploads=1)  # the first attempt is retried, from the start
    with Client(URL, transport=httpx.MockTransport(server)) as client:
        client._retry = type(client._retry)(max_retries=2, backoff_s=0)
        path = tmp_path / "a.wav"
        job = client.submit("t", {"url": path, "more": [path, "x"]}, priority=9, timeout_s=5)
    ((headers, body),) = server.uploads
    assert body == (tmp_path / "a.wav").read_bytes()
    assert headers["content-type"] == "audio/x-wav" and headers["name"] == "a.wav"
    assert headers["content-length"] == str(len(body))
    url = f"asyncml://files/{1:032x}"
    assert server.jobs == [
        {"task": "t", "input": {"url": url, "more": [url, "x"]}, "priority": 9, "timeout_s": 5}
    ]
    assert job.info.priority == 9


def test_the_async_client_uploads_too(tmp_path: Path) -> None:
    (tmp_path / "b.flac").write_bytes(b"fLaC" + bytes(1000))
    server = Server()
    deadline = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)

    async def go() -> None:
        async with AsyncClient(URL, transport=httpx.MockTransport(server)) as client:
            await client.submit("t", {"url": tmp_path / "b.flac"}, deadline=deadline)
            ref = await client.upload(b"raw bytes", name="c.bin")
            assert ref.url.startswith("asyncml://files/") and ref.size == 9

    asyncio.run(go())
    assert server.uploads[0][1] == (tmp_path / "b.flac").read_bytes()
    assert server.jobs[0]["deadline"] == "2030-01-01T00:00:00+00:00"


def test_bad_arguments_fail_before_any_request(tmp_path: Path) -> None:
    server = Server()
    with Client(URL, transport=httpx.MockTransport(server)) as client:
        with pytest.raises(FileNotFoundError):
            client.upload(tmp_path / "missing.wav")
        with pytest.raises(ValueError, match="timezone"):
            client.submit("t", {}, deadline=dt.datetime(2030, 1, 1))
        client._retry = type(client._retry)(max_retries=0)
        server.fail_uploads = 1
        with pytest.raises(UnavailableError):
            client.upload(b"x")
    assert server.jobs == [] and server.uploads == []
