"""audio.transcribe through a real speech worker: CPU, wall time and memory per job.

    python bench/speech_worker.py [--model base] [--rounds 2] [--db 10]

Serves the five LibriVox utterances of Debian's ``pocketsphinx-testdata`` (25 s of read
English) with Python's http.server, starts ``asyncml worker --queues speech --concurrency 1``
on Redis db ``--db`` of 127.0.0.1:6379 (broker and store in one database), writes the jobs
(``--rounds`` times each utterance) as the API does, and prints the worker tree's CPU
seconds per second of audio, the wall-clock real-time factor, and the worker tree's
resident memory (VmRSS of the supervisor and its process, sampled every 0.2 s: the peak).
The first round includes loading the model. Linux only.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import redis
import soundfile as sf
from procstat import tree_cpu_seconds

from asyncml.api.wire import task_message
from asyncml.store import AsyncJobStore, Enqueue

PORT = 8767
LIBRIVOX = Path("/usr/share/pocketsphinx/test/data/librivox")


def tree_rss_mb(pid: int) -> float:
    total = 0.0
    with contextlib.suppress(FileNotFoundError, ProcessLookupError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1]) / 1024
        for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
            total += tree_rss_mb(int(child))
    return total


async def push(url: str, names: list[str]) -> None:
    store = AsyncJobStore(url, 3600)
    try:
        for name in names:
            job_id = str(uuid.uuid4())
            payload = {"url": f"http://127.0.0.1:{PORT}/{name}"}
            message = task_message("asyncml.audio.transcribe", "speech", job_id, payload)
            await store.create(
                job_id,
                "audio.transcribe",
                "speech",
                "public",
                payload,
                enqueue=Enqueue("speech", message),
            )
    finally:
        await store.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default="base", help="ASYNCML_SPEECH_MODEL")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--db", type=int, default=10)
    args = parser.parse_args()
    names = sorted(p.name for p in LIBRIVOX.glob("*.wav"))
    if not names:
        raise SystemExit(f"no utterances in {LIBRIVOX}: apt-get install pocketsphinx-testdata")
    seconds = sum(sf.info(str(LIBRIVOX / n)).duration for n in names)
    url = f"redis://127.0.0.1:6379/{args.db}"
    client = redis.Redis.from_url(url)
    client.flushdb()
    server = subprocess.Popen(
        [sys.executable, "-m", "http.server", "-b", "127.0.0.1", str(PORT), "-d", str(LIBRIVOX)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    env = os.environ | {
        "ASYNCML_BROKER_URL": url,
        "ASYNCML_STORE_URL": url,
        "ASYNCML_EGRESS_ALLOW": "127.0.0.1",
        "ASYNCML_LOG_LEVEL": "WARNING",
        "ASYNCML_SPEECH_MODEL": args.model,
    }
    cmd = [sys.executable, "-m", "asyncml", "worker", "--queues", "speech", "--concurrency", "1"]
    worker = subprocess.Popen(cmd, env=env)
    try:
        time.sleep(4)
        idle_mb = tree_rss_mb(worker.pid)
        for round_ in range(args.rounds):
            before, t0 = tree_cpu_seconds(worker.pid), time.perf_counter()
            asyncio.run(push(url, names))
            peak = 0.0
            while True:
                counts = client.hgetall("asyncml:metrics")
                done = sum(int(v) for k, v in counts.items() if k.startswith(b"finished|"))
                peak = max(peak, tree_rss_mb(worker.pid))
                if done >= len(names) * (round_ + 1):
                    break
                time.sleep(0.2)
            after, t1 = tree_cpu_seconds(worker.pid), time.perf_counter()
            print(
                f"{args.model} round {round_ + 1}{' (loads the model)' if round_ == 0 else ''}: "
                f"{len(names)} jobs, {seconds:.1f} s of audio: "
                f"{(after - before) / seconds:.3f} CPU s per audio s, "
                f"wall RTF {(t1 - t0) / seconds:.3f}; worker RSS idle {idle_mb:.0f} MB, "
                f"peak {peak:.0f} MB"
            )
    finally:
        worker.terminate()
        worker.wait(30)
        server.terminate()
        client.flushdb()


if __name__ == "__main__":
    main()
