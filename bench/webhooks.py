"""What waiting for 1,000 webhooks costs the API, and how fast they are delivered.

    python bench/webhooks.py [--jobs 1000] [--window 10] [--webhook-concurrency 2]

Runs a real deployment in a temporary data directory (embedded Valkey broker and store; or
``--layout redis`` with ``--redis-url``), a tiny WAV on a local file server, and a webhook
receiver on 127.0.0.1 that checks every signature with the reference ``standardwebhooks``
package. Phases:

1. Only the API runs. Submit N ``audio.length`` jobs with a webhook; they stay queued. The
   API process's CPU time (``/proc/<pid>/stat``) is measured over a waiting window: the
   original proof of concept busy-looped on Redis, 0.7 to 1.1 cores per pending callback.
2. An audio worker runs them all; no webhooks worker yet, so N deliveries wait in the
   outbox. The API's CPU is measured again while they wait.
3. ``asyncml worker --queues webhooks`` starts; the time until the receiver has all N
   (one distinct ``webhook-id`` each, every signature valid) gives the delivery rate.
4. With everything running: the time from a job's end to its delivery, one job at a time
   and in a burst.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import wave
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
from procstat import tree_cpu_seconds
from standardwebhooks import Webhook

from asyncml.webhooks import generate_secret

SECRET = generate_secret()


def wait_for(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)
    return value


class Receiver:
    """Records arrival times; verifies each delivery's signature off the request path."""

    def __init__(self) -> None:
        self.arrivals: dict[str, float] = {}
        self.bodies: list[tuple[bytes, dict[str, str]]] = []
        self.count = 0
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                now = time.monotonic()
                with receiver.lock:
                    receiver.count += 1
                    receiver.arrivals.setdefault(self.headers["webhook-id"], now)
                    receiver.bodies.append((body, dict(self.headers.items())))
                self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def distinct(self) -> int:
        with self.lock:
            return len(self.arrivals)

    def verify_all(self) -> int:
        hook = Webhook(SECRET)
        for body, headers in self.bodies:
            hook.verify(body, headers)
        return len(self.bodies)


def file_server(root: Path) -> str:
    class Quiet(SimpleHTTPRequestHandler):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, directory=str(root), **kwargs)

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    with wave.open(str(root / "a.wav"), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\0\0" * 8000)
    return f"http://127.0.0.1:{httpd.server_address[1]}/a.wav"


class Deployment:
    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env = env
        self.logs = logs
        self.procs: list[subprocess.Popen[bytes]] = []

    def spawn(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        with open(self.logs / f"{name}.log", "ab") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "asyncml", *args],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.procs.append(proc)
        return proc

    def stop(self) -> None:
        for proc in self.procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)


def measure_idle(pid: int, window: float) -> float:
    before, start = tree_cpu_seconds(pid), time.monotonic()
    time.sleep(window)  # a benchmark's measuring window, not a wait for a condition
    return (tree_cpu_seconds(pid) - before) / (time.monotonic() - start)


def submit_all(client: httpx.Client, audio: str, hook: str, n: int) -> list[str]:
    body = {"task": "audio.length", "input": {"url": audio}, "webhook": hook}
    ids = []
    for _ in range(n):
        response = client.post("/v1/jobs", json=body)
        response.raise_for_status()
        ids.append(response.json()["id"])
    return ids


def wait_all(client: httpx.Client, ids: list[str]) -> None:
    """Long-poll each job until it has finished (most answer at once)."""
    for job_id in ids:
        while client.get(f"/v1/jobs/{job_id}", params={"wait": 30}).json()["status"] in (
            "queued",
            "started",
        ):
            pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--window", type=float, default=10.0, help="seconds of idle measuring")
    parser.add_argument("--webhook-concurrency", type=int, default=2)
    parser.add_argument("--latency-jobs", type=int, default=200)
    parser.add_argument("--layout", choices=["embedded", "redis"], default="embedded")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379", help="with --layout redis")
    parser.add_argument("--redis-dbs", default="9,8", help="broker,store databases (flushed!)")
    parser.add_argument("--json", type=Path, help="write the figures here too")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="asyncml-bench-webhooks-"))
    audio = file_server(tmp)
    receiver = Receiver()
    port = 20000 + os.getpid() % 20000
    env = os.environ | {
        "ASYNCML_DATA_DIR": str(tmp / "data"),
        "ASYNCML_PORT": str(port),
        "ASYNCML_EGRESS_ALLOW": "127.0.0.1",
        "ASYNCML_WEBHOOK_SECRET": SECRET,
        "ASYNCML_LOG_LEVEL": "WARNING",
        "ASYNCML_BROKER_URL": "",
        "ASYNCML_STORE_URL": "",
    }
    if args.layout == "redis":
        import redis

        broker_db, store_db = args.redis_dbs.split(",")
        for db in (broker_db, store_db):
            redis.Redis.from_url(f"{args.redis_url}/{db}").flushdb()
        env |= {
            "ASYNCML_BROKER_URL": f"{args.redis_url}/{broker_db}",
            "ASYNCML_STORE_URL": f"{args.redis_url}/{store_db}",
        }
    deployment = Deployment(env, tmp)
    figures: dict[str, Any] = {
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.node()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}",
        "layout": args.layout,
        "jobs": args.jobs,
    }
    try:
        api = deployment.spawn("api", "api")
        client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)

        def ready() -> bool:
            with contextlib.suppress(httpx.HTTPError):
                return client.get("/readyz").status_code == 200
            return False

        wait_for(ready, 60, "the API")
        print(f"machine: {figures['machine']}; layout {args.layout}")

        # 1. N jobs with webhooks, queued: the API waits for them.
        started = time.monotonic()
        ids = submit_all(client, audio, receiver.url, args.jobs)
        figures["submit_per_s"] = round(args.jobs / (time.monotonic() - started), 1)
        figures["api_cores_jobs_pending"] = round(measure_idle(api.pid, args.window), 4)
        print(
            f"1. {args.jobs} jobs with webhooks pending: API used "
            f"{figures['api_cores_jobs_pending']:.4f} cores over {args.window:.0f}s "
            f"(submitted at {figures['submit_per_s']}/s)"
        )

        # 2. They run; their deliveries wait in the outbox (no webhooks worker yet).
        deployment.spawn("worker-audio", "worker", "--queues", "audio", "--concurrency", "2")
        started = time.monotonic()
        wait_all(client, ids)
        figures["jobs_per_s"] = round(args.jobs / (time.monotonic() - started), 1)
        figures["api_cores_webhooks_pending"] = round(measure_idle(api.pid, args.window), 4)
        print(
            f"2. jobs ran at {figures['jobs_per_s']}/s; with {args.jobs} webhooks pending the "
            f"API used {figures['api_cores_webhooks_pending']:.4f} cores"
        )

        # 3. The webhooks worker drains the outbox.
        started = time.monotonic()
        hooks = deployment.spawn(
            "worker-webhooks",
            "worker",
            "--queues",
            "webhooks",
            "--concurrency",
            str(args.webhook_concurrency),
        )
        wait_for(lambda: receiver.distinct() >= args.jobs, 600, "the deliveries")
        elapsed = time.monotonic() - started
        figures["delivery_s_incl_worker_start"] = round(elapsed, 2)
        arrivals = sorted(receiver.arrivals.values())
        steady = arrivals[-1] - arrivals[0]
        figures["delivery_per_s"] = round((len(arrivals) - 1) / steady, 1)
        assert receiver.distinct() == len(set(ids)) == args.jobs
        figures["signatures_verified"] = receiver.verify_all()
        figures["duplicates"] = receiver.count - receiver.distinct()
        print(
            f"3. {args.jobs} deliveries: {figures['delivery_per_s']}/s from the first to the "
            f"last ({steady:.2f}s; {elapsed:.2f}s with the worker's start-up) with "
            f"--concurrency {args.webhook_concurrency}; "
            f"{figures['signatures_verified']} signatures verified, "
            f"{figures['duplicates']} duplicate(s)"
        )
        figures["webhooks_worker_idle_cores"] = round(measure_idle(hooks.pid, args.window), 4)
        print(
            f"   idle webhooks worker (sweeper waiting): "
            f"{figures['webhooks_worker_idle_cores']:.4f} cores"
        )

        # 4. Everything running: completion-to-receipt latency, one job at a time and in a burst.
        def latency_ms(job_id: str) -> float:
            job = client.get(f"/v1/jobs/{job_id}").json()
            finished = dt.datetime.fromisoformat(job["finished_at"])
            sent = dt.datetime.fromisoformat(job["deliveries"][0]["at"])
            return (sent - finished).total_seconds() * 1000

        def percentiles(values: list[float]) -> tuple[float, float]:
            values = sorted(values)
            return round(statistics.median(values), 1), round(
                values[int(len(values) * 0.95) - 1], 1
            )

        wanted = args.jobs
        singles = []
        for _ in range(20):
            (job_id,) = submit_all(client, audio, receiver.url, 1)
            wanted += 1
            wait_for(lambda n=wanted: receiver.distinct() >= n, 60, "a single delivery")
            singles.append(latency_ms(job_id))
        figures["latency_ms_single_p50"], figures["latency_ms_single_p95"] = percentiles(singles)
        print(
            f"4. job finished -> delivered, one job at a time: p50 "
            f"{figures['latency_ms_single_p50']} ms, p95 {figures['latency_ms_single_p95']} ms"
        )
        if args.latency_jobs:
            more = submit_all(client, audio, receiver.url, args.latency_jobs)
            wanted += args.latency_jobs
            wait_for(lambda: receiver.distinct() >= wanted, 600, "the latency batch")
            burst = [latency_ms(job_id) for job_id in more]
            figures["latency_ms_burst_p50"], figures["latency_ms_burst_p95"] = percentiles(burst)
            print(
                f"   in a burst of {args.latency_jobs} (jobs and deliveries sharing the cores): "
                f"p50 {figures['latency_ms_burst_p50']} ms, "
                f"p95 {figures['latency_ms_burst_p95']} ms"
            )
    finally:
        deployment.stop()
        if args.layout == "embedded":
            from asyncml.embedded import EmbeddedServer
            from asyncml.settings import Settings

            settings = Settings(data_dir=tmp / "data", broker_url=None, store_url=None)
            EmbeddedServer(settings.data_dir, settings.socket_path).stop()
        shutil.rmtree(tmp, ignore_errors=True)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
