"""Crowds at one API process: a few hundred reads, lists and event streams at once wait
for a store connection instead of being answered 503, and every stream ends with its
terminal event."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.integration.conftest import start_stack, stop_stack
from tests.integration.fileserver import FileServer
from tests.integration.stack import Stack

pytestmark = pytest.mark.integration

CROWD = 300
# Far fewer store connections than requests in flight: every burst below has to queue for
# them. (Before the API waited for a connection, redis-py's pool refused the 101st at once.)
POOL = 8


@pytest.fixture(scope="module")
def crowded(files: FileServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp: Path = tmp_path_factory.mktemp("crowds")
    env = {"ASYNCML_STORE_MAX_CONNECTIONS": str(POOL)}
    stack = start_stack("redis", files, tmp, workers=1, env=env)
    yield stack
    stop_stack(stack, tmp)


def _crowd_client(stack: Stack) -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=CROWD, max_keepalive_connections=0)
    return httpx.AsyncClient(base_url=stack.url, timeout=60, limits=limits)


async def _burst(stack: Stack, path: str, count: int) -> list[int]:
    async with _crowd_client(stack) as client:
        answers = await asyncio.gather(*(client.get(path) for _ in range(count)))
    return [a.status_code for a in answers]


def _finished_job_with_webhook(stack: Stack, files: FileServer) -> str:
    body = {
        "task": "audio.length",
        "input": {"url": f"{files.base_url}/short.wav"},
        "webhook": f"{files.base_url}/hook",
    }
    job_id: str = stack.client.post("/v1/jobs", json=body).json()["id"]
    assert stack.wait_job(job_id)["status"] == "succeeded"
    return job_id


def test_a_crowd_of_reads_and_lists_waits_for_the_store(crowded: Stack, files: FileServer) -> None:
    job_id = _finished_job_with_webhook(crowded, files)
    for _ in range(20):
        crowded.submit("audio.length", {"url": f"{files.base_url}/short.wav"})

    reads = asyncio.run(_burst(crowded, f"/v1/jobs/{job_id}", CROWD))
    lists = asyncio.run(_burst(crowded, "/v1/jobs?limit=20", CROWD))

    assert reads == [200] * CROWD, {s: reads.count(s) for s in set(reads)}
    assert lists == [200] * CROWD, {s: lists.count(s) for s in set(lists)}


async def _stream(client: httpx.AsyncClient, job_id: str) -> tuple[int, list[str]]:
    events = []
    async with client.stream("GET", f"/v1/jobs/{job_id}/events") as response:
        async for line in response.aiter_lines():
            if line.startswith("event: "):
                events.append(line.removeprefix("event: "))
    return response.status_code, events


async def _streams(stack: Stack, job_id: str, count: int) -> list[tuple[int, list[str]]]:
    async with _crowd_client(stack) as client:
        return await asyncio.gather(*(_stream(client, job_id) for _ in range(count)))


def test_a_crowd_of_event_streams_all_end_with_the_outcome(
    crowded: Stack, files: FileServer
) -> None:
    # A job that runs for a while: streams opened meanwhile all wake at each state change.
    job = crowded.submit("audio.length", {"url": f"{files.base_url}/slow/2/short.wav"}).json()
    streams = asyncio.run(_streams(crowded, job["id"], 250))

    statuses = [status for status, _ in streams]
    assert statuses == [200] * 250, {s: statuses.count(s) for s in set(statuses)}
    cut = [events for _, events in streams if events[-1:] != ["succeeded"]]
    assert not cut, f"{len(cut)} streams ended without the terminal event, e.g. {cut[0]}"
