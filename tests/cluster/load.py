"""The bounded load of a scenario and the checks after it.

A client host submits a fixed number of ``fixture.tally`` jobs over real HTTP, at a steady
pace, each with a webhook to a receiver on the same host, while a reader thread reads jobs
back. A submit answered 503 (or not answered) is sent again with the same
``Idempotency-Key`` until it is accepted, as a careful client does, so every job of the
load is accepted once. Every answer's status is counted. The checks then read the store
directly (the API is the thing under test) and the execution log the task writes outside
the store.
"""

from __future__ import annotations

import collections
import json
import random
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import redis

from asyncml.store.keys import event_log_key, job_key

API_KEY = "cluster-key-0123456789abcdef0123"
TERMINAL = {"succeeded", "failed", "canceled", "expired"}


class Receiver:
    """Webhook receiver: counts deliveries per ``webhook-id`` (one per job and event)."""

    def __init__(self, ip: str, port: int) -> None:
        self.deliveries: collections.Counter[str] = collections.Counter()
        lock = threading.Lock()
        counts = self.deliveries

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with lock:
                    counts[self.headers.get("webhook-id", "?")] += 1
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.url = f"http://{ip}:{port}/hook"
        self.httpd = ThreadingHTTPServer((ip, port), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@dataclass
class Load:
    """One scenario's jobs: submitted by ``threads`` submitters over ``seconds``."""

    api: str
    hook: str
    tag: str
    jobs: int
    seconds: float
    limit_s: float = 300  # a submit not accepted by then counts as refused
    threads: int = 4
    accepted: dict[int, str] = field(default_factory=dict)
    answers: collections.Counter[str] = field(default_factory=collections.Counter)
    refused: list[int] = field(default_factory=list)
    samples: dict[str, str] = field(default_factory=dict)  # the first body of each status
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stop: threading.Event = field(default_factory=threading.Event)

    def _client(self) -> httpx.Client:
        headers = {"Authorization": f"Bearer {API_KEY}"}
        return httpx.Client(base_url=self.api, headers=headers, timeout=10)

    def _count(self, kind: str, status: int | str) -> None:
        with self._lock:
            self.answers[f"{kind} {status}"] += 1

    def _submit(self, client: httpx.Client, n: int) -> None:
        body = {
            "task": "fixture.tally",
            "input": {"seconds": round(random.uniform(0.02, 0.3), 3)},
            "webhook": self.hook,
        }
        key = {"Idempotency-Key": f"{self.tag}-{n}"}
        deadline = time.monotonic() + self.limit_s
        while time.monotonic() < deadline:
            try:
                response = client.post("/v1/jobs", json=body, headers=key)
            except httpx.HTTPError as exc:
                self._count("submit", type(exc).__name__)
                time.sleep(0.5)
                continue
            self._count("submit", response.status_code)
            if response.status_code == 202:
                with self._lock:
                    self.accepted[n] = response.json()["id"]
                return
            self.samples.setdefault(str(response.status_code), response.text[:500])
            if response.status_code not in (429, 503) and response.status_code < 500:
                break  # refused for good: retrying the same request cannot help
            time.sleep(0.5)
        with self._lock:
            self.refused.append(n)

    def _submitter(self, numbers: list[int], started: float) -> None:
        with self._client() as client:
            for i, n in enumerate(numbers):
                due = started + self.seconds * i / max(1, len(numbers))
                if (wait := due - time.monotonic()) > 0:
                    time.sleep(wait)
                self._submit(client, n)

    def _reader(self) -> None:
        with self._client() as client:
            while not self._stop.wait(0.2):
                with self._lock:
                    ids = list(self.accepted.values())
                if not ids:
                    continue
                try:
                    response = client.get(f"/v1/jobs/{random.choice(ids)}")
                    self._count("read", response.status_code)
                except httpx.HTTPError as exc:
                    self._count("read", type(exc).__name__)

    def start(self) -> list[threading.Thread]:
        started = time.monotonic()
        numbers = list(range(self.jobs))
        threads = [
            threading.Thread(
                target=self._submitter, args=(numbers[i :: self.threads], started), daemon=True
            )
            for i in range(self.threads)
        ]
        threads.append(threading.Thread(target=self._reader, daemon=True))
        for thread in threads:
            thread.start()
        return threads

    def finish(self, threads: list[threading.Thread]) -> None:
        for thread in threads[:-1]:
            thread.join()
        self._stop.set()
        threads[-1].join()

    def server_errors(self) -> int:
        """Answers 500-599 other than 503."""
        return sum(
            count
            for key, count in self.answers.items()
            if key.split()[1].isdigit()
            and 500 <= int(key.split()[1]) < 600
            and key.split()[1] != "503"
        )


def read_executions(path: Path) -> collections.Counter[str]:
    if not path.exists():
        return collections.Counter()
    return collections.Counter(line.split()[0] for line in path.read_text().splitlines() if line)


def settle(store: redis.Redis, ids: list[str], timeout: float) -> tuple[dict[str, str], float]:
    """Wait until every job is terminal (or ``timeout``); each job's status, seconds taken."""
    t0 = time.monotonic()
    while True:
        statuses: dict[str, str] = {}
        try:
            with store.pipeline(transaction=False) as pipe:
                for job_id in ids:
                    pipe.hget(job_key(job_id), "status")
                for job_id, raw in zip(ids, pipe.execute(), strict=True):
                    statuses[job_id] = raw.decode() if raw else "missing"
        except redis.RedisError:
            statuses = {}
        if statuses and all(s in TERMINAL for s in statuses.values()):
            return statuses, time.monotonic() - t0
        if time.monotonic() - t0 > timeout:
            return statuses, time.monotonic() - t0
        time.sleep(1)


def ends_recorded(store: redis.Redis, ids: list[str]) -> dict[str, int]:
    """How many terminal events each job's event log holds (one, if its end showed once)."""
    with store.pipeline(transaction=False) as pipe:
        for job_id in ids:
            pipe.xrange(event_log_key(job_id))
        logs = pipe.execute()
    return {
        job_id: sum(fields[b"status"].decode() in TERMINAL for _, fields in log)
        for job_id, log in zip(ids, logs, strict=True)
    }


def errors_of(store: redis.Redis, ids: list[str]) -> collections.Counter[str]:
    with store.pipeline(transaction=False) as pipe:
        for job_id in ids:
            pipe.hget(job_key(job_id), "error")
        raw = pipe.execute()
    return collections.Counter(json.loads(r)["code"] for r in raw if r)


def wait_webhooks(receiver: Receiver, ids: list[str], timeout: float) -> float:
    t0 = time.monotonic()
    wanted = [f"msg_{job_id}_completed" for job_id in ids]
    while time.monotonic() - t0 < timeout:
        if all(receiver.deliveries[w] for w in wanted):
            break
        time.sleep(0.5)
    return time.monotonic() - t0


def summary(
    load: Load,
    statuses: dict[str, str],
    ends: dict[str, int],
    executions: collections.Counter[str],
    receiver: Receiver,
    most_deliveries: int,
) -> dict[str, Any]:
    ids = list(load.accepted.values())
    per_event = [receiver.deliveries[f"msg_{j}_completed"] for j in ids]
    return {
        "jobs": load.jobs,
        "accepted": len(ids),
        "refused": len(load.refused),
        "succeeded": sum(s == "succeeded" for s in statuses.values()),
        "failed": sum(s == "failed" for s in statuses.values()),
        "lost": sum(s not in TERMINAL for s in statuses.values()) + len(load.refused),
        "duplicates": sum(n > 1 for n in ends.values()),
        "executions": sum(executions[j] for j in ids),
        "reexecuted": sum(executions[j] > 1 for j in ids),
        "not_executed_but_succeeded": sum(
            statuses.get(j) == "succeeded" and executions[j] == 0 for j in ids
        ),
        "webhooks_missing": sum(n == 0 for n in per_event),
        "webhooks_resent": sum(n > 1 for n in per_event),
        "webhooks_over_limit": sum(n > most_deliveries for n in per_event),
        "answers": dict(sorted(load.answers.items())),
        "5xx_not_503": load.server_errors(),
        "samples": load.samples,
    }
