"""``asyncml up``: start the API and one worker per queue, supervise them, stop them cleanly."""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from types import FrameType

import httpx

from asyncml.catalog import QUEUES
from asyncml.settings import Settings

log = logging.getLogger(__name__)
STOP_GRACE_S = 20.0
READY_TIMEOUT_S = 60.0


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    """Linux: take the children down if the launcher is SIGKILLed."""
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


@dataclass
class Child:
    name: str
    argv: list[str]
    process: subprocess.Popen[bytes] | None = None
    restarts: list[float] = field(default_factory=list)

    def start(self, env: dict[str, str]) -> None:
        preexec = _die_with_parent if sys.platform.startswith("linux") else None
        self.process = subprocess.Popen(self.argv, env=env, preexec_fn=preexec)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None


class Launcher:
    def __init__(self, settings: Settings, *, concurrency: int, owns_server: bool) -> None:
        self.settings = settings
        self.owns_server = owns_server
        self.stopping = False
        python = [sys.executable, "-m", "asyncml"]
        self.children = [Child("api", [*python, "api"])] + [
            Child(
                f"worker:{q}", [*python, "worker", "--queues", q, "--concurrency", str(concurrency)]
            )
            for q in QUEUES
        ]
        self.env = os.environ | {
            "ASYNCML_HOST": settings.host,
            "ASYNCML_PORT": str(settings.port),
            "ASYNCML_DATA_DIR": str(settings.data_dir),
        }

    def _on_signal(self, signum: int, _: FrameType | None) -> None:
        log.info("received %s, shutting down", signal.Signals(signum).name)
        self.stopping = True

    def run(self) -> int:
        signal.signal(signal.SIGINT, self._on_signal)
        signal.signal(signal.SIGTERM, self._on_signal)
        for child in self.children:
            child.start(self.env)
        code = 0
        try:
            if not self._wait_ready():
                return 1
            self._announce()
            while not self.stopping:
                self._supervise()
                time.sleep(0.2)
        finally:
            self._stop_children()
            if self.owns_server:
                self._stop_server()
        return code

    def _url(self) -> str:
        host = self.settings.host
        shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
        if ":" in shown:
            shown = f"[{shown}]"
        return f"http://{shown}:{self.settings.port}"

    def _wait_ready(self) -> bool:
        deadline = time.monotonic() + READY_TIMEOUT_S
        api = self.children[0]
        while time.monotonic() < deadline and not self.stopping:
            if not api.alive():
                log.error("the API exited during start-up (is port %s in use?)", self.settings.port)
                return False
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self._url()}/healthz", timeout=1).status_code == 200:
                    return True
            time.sleep(0.1)
        if not self.stopping:
            log.error("the API did not answer within %.0fs", READY_TIMEOUT_S)
        return False

    def _announce(self) -> None:
        where = (
            f"embedded, data in {self.settings.data_dir}"
            if self.settings.embedded
            else "distributed"
        )
        click_echo = sys.stdout.write
        click_echo(
            f"asyncml is up: API on {self._url()} (docs at {self._url()}/docs), "
            f"workers for {', '.join(QUEUES)}; {where}. Ctrl-C to stop.\n"
        )
        sys.stdout.flush()

    def _supervise(self) -> None:
        for child in self.children:
            if child.alive() or self.stopping:
                continue
            code = child.process.returncode if child.process else None
            now = time.monotonic()
            child.restarts = [t for t in child.restarts if now - t < 60] + [now]
            if len(child.restarts) > 5:
                log.error("%s keeps exiting (last code %s); giving up", child.name, code)
                self.stopping = True
                return
            log.warning("%s exited with code %s; restarting it", child.name, code)
            child.start(self.env)

    def _stop_children(self) -> None:
        # Workers first would strand nothing (late acks), but stopping the API first stops
        # new work from arriving while the workers finish what they hold.
        for child in self.children:
            if child.alive() and child.process is not None:
                child.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_S
        for child in self.children:
            if child.process is None:
                continue
            try:
                child.process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("%s did not stop in time; killing it", child.name)
                child.process.kill()
                child.process.wait()

    def _stop_server(self) -> None:
        from asyncml.embedded import EmbeddedServer

        EmbeddedServer(self.settings.data_dir, self.settings.socket_path).stop()
        log.info("embedded server stopped")
