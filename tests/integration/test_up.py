"""``asyncml up``: the whole embedded system from one command, stopped cleanly, restarted
without losing accepted jobs, recovering from a launcher that was killed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from asyncml.embedded import EmbeddedServer
from asyncml.settings import Settings
from tests.integration.conftest import base_env
from tests.integration.fileserver import FileServer
from tests.integration.stack import free_port, wait_for

pytestmark = pytest.mark.integration


class Up:
    def __init__(self, tmp: Path, files: FileServer) -> None:
        self.data = tmp / "data"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = (
            os.environ
            | base_env(files)
            | {
                "ASYNCML_DATA_DIR": str(self.data),
                "ASYNCML_BROKER_URL": "",
                "ASYNCML_STORE_URL": "",
            }
        )
        self.log = tmp / "up.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, *args: str) -> None:
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "asyncml", *args, "--port", str(self.port)],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        wait_for(self._healthy, 60, "asyncml to answer", every=0.1)

    def _healthy(self) -> bool:
        assert self.proc is not None and self.proc.poll() is None, self.log.read_text()
        try:
            return httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def signal(self, sig: int) -> int:
        assert self.proc is not None
        self.proc.send_signal(sig)
        return self.proc.wait(60)

    @property
    def server(self) -> EmbeddedServer:
        settings = Settings(data_dir=self.data, broker_url=None, store_url=None)
        return EmbeddedServer(settings.data_dir, settings.socket_path)


@pytest.fixture
def up(tmp_path: Path, files: FileServer) -> Iterator[Up]:
    runner = Up(tmp_path, files)
    yield runner
    if runner.proc is not None and runner.proc.poll() is None:
        runner.proc.kill()
        runner.proc.wait()
    runner.server.stop()


def _length(url: str, audio_url: str) -> dict[str, object]:
    created = httpx.post(f"{url}/audio/length", json={"audio_url": audio_url, "callback": False})
    assert created.status_code == 201
    task = created.json()["id"]
    httpx.get(f"{url}/v1/jobs/{task}", params={"wait": 30}, timeout=40)
    response = httpx.get(f"{url}/task/{task}")
    assert response.status_code == 200
    body: dict[str, object] = response.json()
    return body


def test_up_runs_everything_and_stops_cleanly(
    up: Up, files: FileServer, corpus: dict[str, float]
) -> None:
    up.start("up")
    body = _length(up.url, f"{files.base_url}/short.wav")
    assert body["status"] == "SUCCESS"
    assert body["result"]["audio_length"] == pytest.approx(corpus["short.wav"])  # type: ignore[index]
    assert f"API on {up.url}" in up.log.read_text()
    # A start a person can read: a line per component, then where it listens; Celery's
    # banners, its root warnings and a "reusing Valkey" line per process are gone.
    log = up.log.read_text()
    before_up = log.split("asyncml is up", 1)[0].splitlines()
    assert len(before_up) <= 8, before_up
    assert sum("worker for " in line for line in before_up) == 4  # audio, euro, speech, webhooks
    assert any(f"API listening on {up.url}" in line for line in before_up)
    for noise in ("[tasks]", "SecurityWarning", "reusing embedded Valkey", "Started server"):
        assert noise not in log, noise
    assert up.signal(signal.SIGTERM) == 0
    assert not up.server.responds()  # the server it started is shut down too


def test_restart_keeps_accepted_jobs(up: Up, files: FileServer) -> None:
    # A deployment with no worker yet: its tasks registered once, as docs/tasks.md says.
    register = [sys.executable, "-m", "asyncml", "tasks", "register"]
    subprocess.run(register, env=up.env, check=True, capture_output=True, timeout=60)
    up.start("api")  # API only: jobs are accepted and wait in the embedded broker
    ids = [
        httpx.post(
            f"{up.url}/audio/length", json={"audio_url": f"{files.base_url}/short.wav"}
        ).json()["id"]
        for _ in range(5)
    ]
    up.signal(signal.SIGTERM)
    up.server.stop()  # the whole embedded system is down now
    up.start("up")
    for job_id in ids:
        job = httpx.get(f"{up.url}/v1/jobs/{job_id}", params={"wait": 30}, timeout=40).json()
        assert job["status"] == "succeeded", job


def test_killed_launcher_leaves_nothing_running(up: Up, files: FileServer) -> None:
    up.start("up")
    pid = up.server.pid()
    up.signal(signal.SIGKILL)
    # The API and workers die with their launcher (SIGTERM from the kernel), and the last
    # of them to leave stops the Valkey server: no orphan.
    wait_for(lambda: not _answers(up.url), 20, "children of the killed launcher to exit")
    wait_for(lambda: not Path(f"/proc/{pid}").exists(), 20, "the Valkey server to stop")
    up.start("up")
    assert _length(up.url, f"{files.base_url}/short.wav")["status"] == "SUCCESS"


def test_a_server_left_running_is_reused(up: Up, files: FileServer) -> None:
    # As after every asyncml process of a data directory was SIGKILLed at once.
    assert up.server.ensure_running()
    pid = up.server.pid()
    up.start("up")
    assert up.server.pid() == pid
    assert _length(up.url, f"{files.base_url}/short.wav")["status"] == "SUCCESS"


def test_stale_files_of_a_dead_server_are_cleaned(up: Up, files: FileServer) -> None:
    up.data.mkdir(parents=True)
    up.server.pid_path.write_text("999999")
    up.server.socket_path.write_text("stale")
    up.start("up")
    assert up.server.pid() != 999999
    assert _length(up.url, f"{files.base_url}/short.wav")["status"] == "SUCCESS"


def test_a_killed_valkey_is_started_again_and_keeps_accepted_jobs(
    up: Up, files: FileServer
) -> None:
    up.start("up")
    job = {"task": "audio.length", "input": {"url": f"{files.base_url}/short.wav"}}

    def submit() -> httpx.Response:
        return httpx.post(f"{up.url}/v1/jobs", json=job, timeout=10)

    accepted = [submit().json()["id"] for _ in range(5)]
    pid = up.server.pid()
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not Path(f"/proc/{pid}").exists(), 10, "the server to be gone")

    def one_more_accepted() -> bool:
        response = submit()  # 503 while the server is down
        if response.status_code == 202:
            accepted.append(response.json()["id"])
        return response.status_code == 202

    wait_for(one_more_accepted, 60, "a submit accepted again", every=0.2)
    assert up.server.pid() not in (None, pid)  # the launcher started a new server
    for job_id in accepted:
        done = httpx.get(f"{up.url}/v1/jobs/{job_id}", params={"wait": 30}, timeout=40).json()
        assert done["status"] == "succeeded", done


def _answers(url: str) -> bool:
    try:
        httpx.get(f"{url}/healthz", timeout=1)
    except httpx.HTTPError:
        return False
    return True


class _Healthy(BaseHTTPRequestHandler):
    """Another service on the port that answers health checks (another asyncml, say)."""

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")


@pytest.fixture
def taken(up: Up) -> Iterator[int]:
    """``up``'s port, held by another server that answers 200 to everything."""
    other = ThreadingHTTPServer(("127.0.0.1", up.port), _Healthy)
    thread = threading.Thread(target=other.serve_forever, daemon=True)
    thread.start()
    yield up.port
    other.shutdown()
    other.server_close()


@pytest.mark.parametrize("command", ["api", "up"])
def test_a_taken_port_fails_fast_and_clearly(up: Up, taken: int, command: str) -> None:
    with open(up.log, "ab") as log:
        up.proc = subprocess.Popen(
            [sys.executable, "-m", "asyncml", command, "--port", str(taken)],
            env=up.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        code = up.proc.wait(30)
    except subprocess.TimeoutExpired:
        pytest.fail(f"asyncml {command} still running on a taken port:\n{up.log.read_text()}")
    output = up.log.read_text()
    assert code != 0, output
    assert f"cannot listen on 127.0.0.1:{taken}" in output and "already in use" in output
    assert "asyncml is up" not in output
