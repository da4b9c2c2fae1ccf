"""A crowd at one API process: N concurrent mixed requests, counted by status, with latency.

    python bench/load_mixed.py [-n 1000] [--port 5097]

Starts an embedded deployment (``asyncml api`` and one ``asyncml worker --queues audio``,
its own Valkey in a temp dir) and a file server on 127.0.0.1, finishes 50 ``audio.length``
jobs, then opens N connections at once, each sending one request: reads of finished and
queued jobs, job lists, SSE streams of finished jobs (read to their end), long-polls
(``?wait=2``) and submits, in the proportions of ``MIX``. Prints the count of each status,
the 5xx count and the p50/p99/max latency per kind. Loopback only; it stops by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import http.server
import io
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import wave
from collections import Counter, defaultdict
from pathlib import Path

import aiohttp
import httpx

MIX = {"read": 35, "list": 15, "events": 15, "wait": 15, "submit": 20}


def _wav() -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\0\0" * 8000)
    return out.getvalue()


def _file_server(root: Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    (root / "a.wav").write_bytes(_wav())
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.RequestHandlerClass.log_message = lambda *a: None  # type: ignore[method-assign]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/a.wav"


async def one(
    session: aiohttp.ClientSession, url: str, kind: str, ids: list[str], audio: str
) -> tuple[str, int, float]:
    start = time.perf_counter()
    job = random.choice(ids)
    try:
        if kind == "read":
            async with session.get(f"{url}/v1/jobs/{job}") as r:
                await r.read()
        elif kind == "list":
            async with session.get(f"{url}/v1/jobs", params={"limit": "20"}) as r:
                await r.read()
        elif kind == "events":
            async with session.get(f"{url}/v1/jobs/{job}/events") as r:
                await r.read()  # a finished job's stream ends after its last event
        elif kind == "wait":
            async with session.get(f"{url}/v1/jobs/{job}", params={"wait": "2"}) as r:
                await r.read()
        else:
            body = {"task": "audio.length", "input": {"url": audio}}
            async with session.post(f"{url}/v1/jobs", json=body) as r:
                await r.read()
        status = r.status
    except (aiohttp.ClientError, TimeoutError):
        status = 0  # the connection failed: counted apart from HTTP statuses
    return kind, status, time.perf_counter() - start


async def crowd(url: str, n: int, ids: list[str], audio: str) -> list[tuple[str, int, float]]:
    kinds = [k for k, share in MIX.items() for _ in range(share)]
    connector = aiohttp.TCPConnector(limit=0, force_close=True)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        return await asyncio.gather(
            *(one(session, url, random.choice(kinds), ids, audio) for _ in range(n))
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-n", type=int, default=1000)
    parser.add_argument("--port", type=int, default=5097)
    args = parser.parse_args()
    random.seed(1)
    # 1,000 sockets at once need more than the usual 1,024 descriptors (the API inherits it).
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 8192)), hard))
    tmp = Path(tempfile.mkdtemp())
    files, audio = _file_server(tmp)
    env = os.environ | {
        "ASYNCML_PORT": str(args.port),
        "ASYNCML_LOG_LEVEL": "WARNING",
        "ASYNCML_DATA_DIR": str(tmp / "data"),
        "ASYNCML_BROKER_URL": "",
        "ASYNCML_STORE_URL": "",
        "ASYNCML_EGRESS_ALLOW": "127.0.0.1",
    }
    python = [sys.executable, "-m", "asyncml"]
    api = subprocess.Popen([*python, "api"], env=env)
    worker = subprocess.Popen([*python, "worker", "--queues", "audio"], env=env)
    url = f"http://127.0.0.1:{args.port}"
    try:
        with httpx.Client(base_url=url, timeout=30) as client:
            for _ in range(600):
                try:
                    tasks = client.get("/v1/tasks").json()
                    if any(t["name"] == "audio.length" and t["workers"] for t in tasks):
                        break
                except (httpx.HTTPError, ValueError, TypeError):
                    pass
                time.sleep(0.1)
            ids = []
            for _ in range(50):
                body = {"task": "audio.length", "input": {"url": audio}}
                ids.append(client.post("/v1/jobs", json=body).json()["id"])
            for job_id in ids:
                client.get(f"/v1/jobs/{job_id}", params={"wait": 30})
        t0 = time.perf_counter()
        results = asyncio.run(crowd(url, args.n, ids, audio))
        seconds = time.perf_counter() - t0
    finally:
        for proc in (worker, api):
            proc.terminate()
            proc.wait(60)
        files.shutdown()
        from asyncml.embedded import EmbeddedServer
        from asyncml.settings import Settings

        s = Settings(data_dir=tmp / "data", broker_url=None, store_url=None)
        EmbeddedServer(s.data_dir, s.socket_path).stop()
    statuses = Counter(status for _, status, _ in results)
    server_errors = sum(count for status, count in statuses.items() if status >= 500)
    print(
        f"{args.n} concurrent requests in {seconds:.1f}s: statuses {dict(sorted(statuses.items()))}"
    )
    print(f"5xx: {server_errors}; failed connections: {statuses.get(0, 0)}")
    by_kind: dict[str, list[float]] = defaultdict(list)
    for kind, _, elapsed in results:
        by_kind[kind].append(elapsed)
    everything = sorted(elapsed for _, _, elapsed in results)
    for kind, times in [*sorted(by_kind.items()), ("all", everything)]:
        times.sort()
        p99 = times[min(len(times) - 1, int(len(times) * 0.99))]
        print(
            f"  {kind:7} n={len(times):4}  p50 {statistics.median(times) * 1000:7.0f} ms  "
            f"p99 {p99 * 1000:7.0f} ms  max {times[-1] * 1000:7.0f} ms"
        )


if __name__ == "__main__":
    main()
