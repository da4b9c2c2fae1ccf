"""Dynamic batching: jobs/s and latency at max_size 1, 8 and 32, under a burst and a trickle.

    python bench/batching.py [--redis redis://127.0.0.1:6379/10] [--burst 480]
                             [--trickle 80 --every-ms 60] [--out bench/results/batching.json]

Serves ``bench/batch_model.py`` (a numpy MLP behind a fixed per-call cost, see there) with
one real ``asyncml worker`` process per ``max_size`` (solo pool, Redis broker and store in
one database, as in the embedded layout), one configuration at a time. Jobs are written as
the API writes them (record and message in one script), so the API's own cost stays out:

- **burst**: ``--burst`` jobs at once into an idle worker; jobs/s from the first job
  accepted to the last finished;
- **trickle**: ``--trickle`` jobs, one every ``--every-ms``, slower than even ``max_size`` 1
  serves them, so a job rarely finds another waiting.

Latency is a job's accepted → finished time from its record. Prints a Markdown table and
writes the figures as JSON. Compare configurations within one run; absolute figures drift
with the machine's load (say what it was when you quote them).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import redis

from asyncml.api.wire import task_message
from asyncml.store import AsyncJobStore, Enqueue

HERE = Path(__file__).resolve().parent
SIZES = (1, 8, 32)
FEATURES = 64


def _payload(i: int) -> dict[str, Any]:
    return {"values": [((i * 31 + k * 7) % 97) / 97 for k in range(FEATURES)]}


async def _push(store: AsyncJobStore, size: int, count: int, every_s: float) -> list[str]:
    task, queue = f"bench.mlp{size}", f"bench-b{size}"
    ids = []
    start = time.monotonic()
    for i in range(count):
        if every_s:
            await asyncio.sleep(max(0.0, start + i * every_s - time.monotonic()))
        job_id = str(uuid.uuid4())
        message = task_message(f"asyncml.{task}", queue, job_id, _payload(i))
        await store.create(
            job_id, task, queue, "public", _payload(i), enqueue=Enqueue(queue, message)
        )
        ids.append(job_id)
    return ids


def _wait(client: redis.Redis, ids: list[str], timeout: float = 600) -> list[tuple[float, ...]]:
    """(created, finished, batch) of each job once all have finished."""
    deadline = time.monotonic() + timeout
    while True:
        with client.pipeline(transaction=False) as pipe:
            for job_id in ids:
                pipe.hmget(f"asyncml:job:{job_id}", "status", "created_at", "finished_at", "result")
            rows = pipe.execute()
        if all(row[0] in (b"succeeded", b"failed") for row in rows):
            failed = sum(row[0] == b"failed" for row in rows)
            if failed:
                raise SystemExit(f"{failed} jobs failed; see the worker's log")
            return [
                (float(row[1]), float(row[2]), float(json.loads(row[3])["batch"])) for row in rows
            ]
        if time.monotonic() > deadline:
            raise SystemExit("jobs did not finish in time")
        time.sleep(0.05)


def _figures(rows: list[tuple[float, ...]]) -> dict[str, float]:
    latencies = sorted(finished - created for created, finished, _ in rows)
    span = max(r[1] for r in rows) - min(r[0] for r in rows)
    return {
        "jobs": len(rows),
        "jobs_per_s": round(len(rows) / span, 1),
        "p50_ms": round(1000 * statistics.median(latencies), 1),
        "p99_ms": round(1000 * latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))], 1),
        "mean_batch": round(statistics.fmean(r[2] for r in rows), 2),
    }


def _start_worker(url: str, size: int) -> subprocess.Popen[bytes]:
    env = os.environ | {
        "ASYNCML_BROKER_URL": url,
        "ASYNCML_STORE_URL": url,
        "ASYNCML_LOG_LEVEL": "WARNING",
        "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]),
        "OPENBLAS_NUM_THREADS": "1",
        "OMP_NUM_THREADS": "1",
    }
    command = [sys.executable, "-m", "asyncml", "worker", "--tasks", "batch_model"]
    command += ["--queues", f"bench-b{size}", "--concurrency", "1", "--pool", "solo"]
    return subprocess.Popen(command, env=env)


async def _measure(
    client: redis.Redis, url: str, size: int, burst: int, trickle: int, every_ms: float
) -> tuple[list[tuple[float, ...]], list[tuple[float, ...]]]:
    store = AsyncJobStore(url, 3600)
    try:
        # A first job: the worker is up and its model set up before anything is timed.
        await asyncio.to_thread(_wait, client, await _push(store, size, 1, 0), 120)
        burst_ids = await _push(store, size, burst, 0)
        burst_rows = await asyncio.to_thread(_wait, client, burst_ids)
        trickle_ids = await _push(store, size, trickle, every_ms / 1000)
        return burst_rows, await asyncio.to_thread(_wait, client, trickle_ids)
    finally:
        await store.close()


def run(url: str, burst: int, trickle: int, every_ms: float) -> dict[str, Any]:
    client = redis.Redis.from_url(url)
    results: dict[str, Any] = {}
    for size in SIZES:
        client.flushdb()
        worker = _start_worker(url, size)
        try:
            burst_rows, trickle_rows = asyncio.run(
                _measure(client, url, size, burst, trickle, every_ms)
            )
        finally:
            worker.terminate()
            worker.wait(30)
        results[f"max_size={size}"] = {
            "burst": _figures(burst_rows),
            "trickle": _figures(trickle_rows),
        }
        print(f"max_size {size}: {results[f'max_size={size}']}", file=sys.stderr)
    client.flushdb()
    return results


def table(results: dict[str, Any], max_wait_ms: int, call_ms: float) -> str:
    lines = [
        f"| max_size (max_wait_ms {max_wait_ms}, {call_ms:g} ms per call) | burst jobs/s | "
        "burst p50 / p99 ms | burst mean batch | trickle jobs/s | trickle p50 / p99 ms | "
        "trickle mean batch |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in results.items():
        b, t = r["burst"], r["trickle"]
        lines.append(
            f"| {name.split('=')[1]} | {b['jobs_per_s']} | {b['p50_ms']} / {b['p99_ms']} | "
            f"{b['mean_batch']} | {t['jobs_per_s']} | {t['p50_ms']} / {t['p99_ms']} | "
            f"{t['mean_batch']} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/10")
    parser.add_argument("--burst", type=int, default=480)
    parser.add_argument("--trickle", type=int, default=80)
    parser.add_argument("--every-ms", type=float, default=60)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "batching.json")
    args = parser.parse_args()
    max_wait_ms = int(os.environ.get("BENCH_MAX_WAIT_MS", "10"))
    call_ms = float(os.environ.get("BENCH_CALL_MS", "20"))
    started, load = time.time(), os.getloadavg()
    results = run(args.redis, args.burst, args.trickle, args.every_ms)
    one, big = results["max_size=1"], results["max_size=32"]
    checks = {
        "burst_gain_32_over_1": round(big["burst"]["jobs_per_s"] / one["burst"]["jobs_per_s"], 2),
        "trickle_p50_growth_ms_32_over_1": round(
            big["trickle"]["p50_ms"] - one["trickle"]["p50_ms"], 1
        ),
        "max_wait_ms": max_wait_ms,
    }
    report = {
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(started)),
        "load_average_at_start": [round(x, 2) for x in load],
        "cpus": os.cpu_count(),
        "call_ms": call_ms,
        "burst_jobs": args.burst,
        "trickle_jobs": args.trickle,
        "trickle_every_ms": args.every_ms,
        "results": results,
        "checks": checks,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(table(results, max_wait_ms, call_ms))
    print(json.dumps(checks))


if __name__ == "__main__":
    main()
