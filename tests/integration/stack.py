"""Run asyncml for real: API and worker processes started with the ``asyncml`` command."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import httpx

from asyncml.settings import Settings
from tests.registry import register_builtins


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(condition: Callable[[], Any], timeout: float, what: str, every: float = 0.05) -> Any:
    """Poll ``condition`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(every)


def socket_owner(local_port: int) -> int | None:
    """The process holding the TCP connection whose local port is ``local_port``: the
    pool process that made the request (found through /proc/net/tcp and /proc/*/fd)."""
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].rsplit(":", 1)[1], 16) == local_port:
            inodes.add(f"socket:[{fields[9]}]")
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        with contextlib.suppress(OSError):
            for fd in os.listdir(f"/proc/{entry}/fd"):
                with contextlib.suppress(OSError):
                    if os.readlink(f"/proc/{entry}/fd/{fd}") in inodes:
                        return int(entry)
    return None


class Answer(NamedTuple):
    kind: str  # submit, read, legacy read
    status: int
    seconds: float
    job_id: str | None  # an accepted submit's job


class Stack:
    """One asyncml deployment: an API process and worker processes sharing ``env``."""

    def __init__(self, name: str, env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.port = free_port()
        self.env = os.environ | env | {"ASYNCML_PORT": str(self.port), "PYTHONUNBUFFERED": "1"}
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_dir = log_dir
        self.api: subprocess.Popen[bytes] | None = None
        self.workers: list[subprocess.Popen[bytes]] = []
        self.client = httpx.Client(base_url=self.url, timeout=30)

    def _spawn(self, label: str, *args: str) -> subprocess.Popen[bytes]:
        log = open(self.log_dir / f"{self.name}-{label}.log", "ab")  # noqa: SIM115
        return subprocess.Popen(
            [sys.executable, "-m", "asyncml", *args],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def start_api(self, *, register: bool = True) -> None:
        """Start the API; with ``register``, write the built-in tasks' manifests first, as a
        deployment's ``asyncml tasks register`` step does, so jobs are accepted before any
        worker has started (workers write the same manifests themselves)."""
        self.api = self._spawn("api", "api")
        wait_for(self._ready, 30, f"{self.name} API readiness", every=0.1)
        if register:
            register_builtins(self.store_url)

    @property
    def store_url(self) -> str:
        where: dict[str, Any] = {
            "store_url": self.env.get("ASYNCML_STORE_URL") or None,
            "broker_url": self.env.get("ASYNCML_BROKER_URL") or None,
        }
        if self.env.get("ASYNCML_DATA_DIR"):
            where["data_dir"] = Path(self.env["ASYNCML_DATA_DIR"])
        return Settings(**where).effective_store_url

    def wait_tasks(
        self,
        names: tuple[str, ...] = ("audio.gender", "audio.length", "euro.results"),
        timeout: float = 60,
    ) -> None:
        """Until the API knows ``names`` from the registry, with a worker online for each."""

        # With API keys configured, listing tasks needs one: the first key will do.
        keys = self.env.get("ASYNCML_API_KEYS", "")
        key = keys.split(",")[0].partition(":")[2] if keys else ""
        headers = {"Authorization": f"Bearer {key}"} if key else {}

        def known() -> bool:
            try:
                response = self.client.get("/v1/tasks", headers=headers)
                found = {t["name"]: t for t in response.raise_for_status().json()}
            except (httpx.HTTPError, ValueError):
                return False
            return all(n in found and found[n]["workers"] > 0 for n in names)

        wait_for(known, timeout, f"{self.name} workers to register {', '.join(names)}", every=0.1)

    def _ready(self) -> bool:
        if self.api is not None and self.api.poll() is not None:
            raise AssertionError(f"{self.name} API exited; see {self.log_dir}")
        try:
            return self.client.get("/readyz").status_code == 200
        except httpx.HTTPError:
            return False

    def start_worker(
        self, queues: str = "audio,euro", concurrency: int = 2, *options: str
    ) -> subprocess.Popen[bytes]:
        proc = self._spawn(
            f"worker-{len(self.workers)}",
            "worker",
            "--queues",
            queues,
            "--concurrency",
            str(concurrency),
            *options,
        )
        self.workers.append(proc)
        return proc

    def kill_workers(self) -> None:
        """SIGKILL every worker process group: the main process and its pool children."""
        for proc in self.workers:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        self.workers.clear()

    def stop_workers(self) -> None:
        """SIGTERM every worker process group (a warm shutdown) and wait for it."""
        for proc in self.workers:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.workers:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        self.workers.clear()

    def stop(self) -> None:
        for proc in [*self.workers, *([self.api] if self.api else [])]:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in [*self.workers, *([self.api] if self.api else [])]:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        self.workers.clear()
        self.client.close()

    # ---- API helpers --------------------------------------------------------------------

    def submit(self, task: str, payload: dict[str, Any], **headers: str) -> httpx.Response:
        return self.client.post("/v1/jobs", json={"task": task, "input": payload}, headers=headers)

    def wait_job(self, job_id: str, timeout: float = 30) -> dict[str, Any]:
        """Long-poll until the job is finished."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            response = self.client.get(
                f"/v1/jobs/{job_id}", params={"wait": max(0.1, min(remaining, 10))}
            )
            assert response.status_code == 200, response.text
            job: dict[str, Any] = response.json()
            if job["status"] not in ("queued", "started"):
                return job
            if remaining <= 0:
                raise AssertionError(f"job {job_id} still {job['status']} after {timeout}s")

    def wait_status(self, job_id: str, status: str, timeout: float = 20) -> dict[str, Any]:
        def seen() -> dict[str, Any] | None:
            job: dict[str, Any] = self.client.get(f"/v1/jobs/{job_id}").json()
            return job if job["status"] == status else None

        result: dict[str, Any] = wait_for(seen, timeout, f"job {job_id} to be {status}")
        return result

    def accept(self, submit: Callable[[int], httpx.Response], numbers: range) -> list[str]:
        """Submit job ``n`` for each number, each answered 202; their ids."""
        ids = []
        for n in numbers:
            response = submit(n)
            assert response.status_code == 202, response.text
            ids.append(response.json()["id"])
        return ids

    def probe(
        self, submit: Callable[[int], httpx.Response], known: list[str], rounds: int = 10
    ) -> list[Answer]:
        """``rounds`` times: a submit, a read and an original-contract read of a known job,
        each timed (what the API answers while a broker or store is down)."""
        answers = []
        for i in range(rounds):
            for kind, call in (
                ("submit", lambda i=i: submit(100 + i)),
                ("read", lambda i=i: self.client.get(f"/v1/jobs/{known[i]}", timeout=15)),
                ("legacy read", lambda i=i: self.client.get(f"/task/{known[i]}", timeout=15)),
            ):
                t0 = time.monotonic()
                response = call()
                accepted = kind == "submit" and response.status_code == 202
                job_id = response.json()["id"] if accepted else None
                answers.append(Answer(kind, response.status_code, time.monotonic() - t0, job_id))
        return answers
