"""API CPU per request, without workers: POST /audio/length, POST /v1/jobs, GET /task/{id}.

    python bench/api_cost.py [--layout embedded|distributed] [-n 3000] [-c 8] [--src DIR]

Starts one ``asyncml api`` process (embedded: its own Valkey in a temp dir; distributed:
RabbitMQ on 127.0.0.1:5672 and Redis db 9 on 127.0.0.1:6379), sends each kind of request
``n`` times from ``c`` concurrent connections (aiohttp), and prints the API process's CPU
milliseconds per request, read from /proc. No worker runs, so jobs stay queued and nothing
else competes for the CPU. Set PYSPY=file to record a py-spy profile (``--gil``, raw) of
the API meanwhile. ``--src`` runs the API from another checkout's ``src`` (a git worktree
of an older commit) for side-by-side figures. The built-in tasks are registered first
(``asyncml tasks register``), as a deployment whose workers are scaled to zero does.
Linux only.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import httpx
import redis
from procstat import cpu_seconds

AMQP = "amqp://guest:guest@127.0.0.1:5672//"
STORE_DB = 9
BODIES = {
    "post": ("/audio/length", {"audio_url": "http://127.0.0.1:9/x.wav"}),
    "v1": ("/v1/jobs", {"task": "audio.length", "input": {"url": "http://127.0.0.1:9/x.wav"}}),
}


async def load(url: str, kind: str, n: int, concurrency: int, ids: list[str]) -> list[str]:
    gate = asyncio.Semaphore(concurrency)
    created: list[str] = []
    async with aiohttp.ClientSession() as session:

        async def one(i: int) -> None:
            async with gate:
                if kind in BODIES:
                    path, body = BODIES[kind]
                    async with session.post(url + path, json=body) as r:
                        created.append((await r.json())["id"])
                else:
                    async with session.get(f"{url}/task/{ids[i % len(ids)]}") as r:
                        await r.read()
                        assert r.status in (200, 202), r.status

        await asyncio.gather(*(one(i) for i in range(n)))
    return created


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--layout", choices=["embedded", "distributed"], default="embedded")
    parser.add_argument("-n", type=int, default=3000)
    parser.add_argument("-c", type=int, default=8)
    parser.add_argument("--port", type=int, default=5099)
    parser.add_argument("--src", type=Path, default=None, help="run the API from this src dir")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp())
    env = os.environ | {
        "ASYNCML_PORT": str(args.port),
        "ASYNCML_LOG_LEVEL": "WARNING",
        "ASYNCML_DATA_DIR": str(tmp / "data"),
        "ASYNCML_MAX_QUEUED": "1000000",
    }
    if args.layout == "distributed":
        redis.Redis(db=STORE_DB).flushdb()
        env |= {"ASYNCML_BROKER_URL": AMQP, "ASYNCML_STORE_URL": f"redis://127.0.0.1/{STORE_DB}"}
    else:
        env |= {"ASYNCML_BROKER_URL": "", "ASYNCML_STORE_URL": ""}
    if args.src is not None:
        env["PYTHONPATH"] = str(args.src.resolve())
    api = subprocess.Popen([sys.executable, "-m", "asyncml", "api"], env=env)
    url = f"http://127.0.0.1:{args.port}"
    spy = None
    try:
        for _ in range(300):
            try:
                if httpx.get(url + "/readyz").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        # Versions before the task registry have no such command, and need none.
        register = [sys.executable, "-m", "asyncml", "tasks", "register"]
        subprocess.run(register, env=env, capture_output=True, check=False)
        ids = asyncio.run(load(url, "post", 300, args.c, []))  # warm-up
        asyncio.run(load(url, "get", 300, args.c, ids))
        if os.environ.get("PYSPY"):
            cmd = ["py-spy", "record", "--gil", "-r", "1000", "-f", "raw"]
            spy = subprocess.Popen([*cmd, "-o", os.environ["PYSPY"], "--pid", str(api.pid)])
            time.sleep(1)
        for kind in ("post", "v1", "get"):
            before, t0 = cpu_seconds(api.pid), time.perf_counter()
            got = asyncio.run(load(url, kind, args.n, args.c, ids))
            after, t1 = cpu_seconds(api.pid), time.perf_counter()
            ids = got or ids
            label = {"post": "POST /audio/length", "v1": "POST /v1/jobs", "get": "GET /task/{id}"}
            print(
                f"{args.layout} {label[kind]}: {1000 * (after - before) / args.n:.3f} ms CPU "
                f"per request, {args.n / (t1 - t0):.0f} req/s"
            )
    finally:
        if spy is not None:
            spy.send_signal(2)
            spy.wait(30)
        api.terminate()
        api.wait(20)
        if args.layout == "embedded":
            from asyncml.embedded import EmbeddedServer
            from asyncml.settings import Settings

            s = Settings(data_dir=tmp / "data")
            EmbeddedServer(s.data_dir, s.socket_path).stop()


if __name__ == "__main__":
    main()
