"""Worker CPU per audio.length job, without the API: jobs pushed at once into an idle worker.

    python bench/worker_cost.py [-n 2000] [-- extra 'asyncml worker' options]

Serves the short-file corpus (55 8 kHz WAVs, built by bench/run.py or the harness in
$TMPDIR/asyncml-bench-cache/osr) with Python's own http.server (it ignores Range, like the
load harness's server), starts ``asyncml worker --queues audio`` on Redis db 10 of
127.0.0.1:6379 (broker and store in one database, as in the embedded layout), waits for it
to be idle, writes ``n`` job records with their messages (as the API does), and prints the
worker tree's CPU milliseconds per job (/proc) and the jobs per second until all finished.
Linux only. Compare variants side by side in one sitting; absolute figures drift.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import redis
from procstat import tree_cpu_seconds

from asyncml.queue.wire import task_message
from asyncml.store import AsyncJobStore, Enqueue

DB = 10
PORT = 8766


async def push(url: str, n: int, names: list[str]) -> None:
    store = AsyncJobStore(url, 3600)
    try:
        for i in range(n):
            job_id = str(uuid.uuid4())
            payload = {"url": f"http://127.0.0.1:{PORT}/{names[i % len(names)]}"}
            push = Enqueue("audio", task_message("asyncml.audio.length", "audio", job_id, payload))
            await store.create(job_id, "audio.length", "audio", "public", payload, enqueue=push)
    finally:
        await store.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-n", type=int, default=2000)
    parser.add_argument("worker_args", nargs="*", help="after --, e.g. -- --concurrency 4")
    args = parser.parse_args()
    corpus = Path(tempfile.gettempdir()) / "asyncml-bench-cache" / "osr"
    names = sorted(p.name for p in corpus.glob("*.wav"))
    if not names:
        raise SystemExit(f"no corpus in {corpus}: run bench/run.py --cases short once first")
    url = f"redis://127.0.0.1:6379/{DB}"
    client = redis.Redis.from_url(url)
    client.flushdb()
    server = subprocess.Popen(
        [sys.executable, "-m", "http.server", "-b", "127.0.0.1", str(PORT), "-d", str(corpus)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    env = os.environ | {
        "ASYNCML_BROKER_URL": url,
        "ASYNCML_STORE_URL": url,
        "ASYNCML_EGRESS_ALLOW": "127.0.0.1",
        "ASYNCML_LOG_LEVEL": "WARNING",
    }
    cmd = [sys.executable, "-m", "asyncml", "worker", "--queues", "audio", *args.worker_args]
    worker = subprocess.Popen(cmd, env=env)
    try:
        time.sleep(4)
        before, t0 = tree_cpu_seconds(worker.pid), time.perf_counter()
        asyncio.run(push(url, args.n, names))
        while True:
            counts = client.hgetall("asyncml:metrics")
            if sum(int(v) for k, v in counts.items() if k.startswith(b"finished|")) >= args.n:
                break
            time.sleep(0.05)
        after, t1 = tree_cpu_seconds(worker.pid), time.perf_counter()
        print(
            f"worker {' '.join(args.worker_args) or '(defaults)'}: "
            f"{1000 * (after - before) / args.n:.3f} ms CPU per job, "
            f"{args.n / (t1 - t0):.0f} jobs/s"
        )
    finally:
        worker.terminate()
        worker.wait(20)
        server.terminate()
        client.flushdb()


if __name__ == "__main__":
    main()
