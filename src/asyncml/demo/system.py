"""A throwaway embedded asyncml for the demo: ``asyncml up`` (the launcher) in a child
process, on a free port, with its own temporary data directory, stopped and removed after."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

READY_TIMEOUT_S = 90.0
STOP_TIMEOUT_S = 40.0


class SystemStartError(RuntimeError):
    pass


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class EmbeddedSystem:
    """``with EmbeddedSystem(env) as system:`` gives ``system.url`` of a running API and
    workers; ``env`` adds to this process's environment (e.g. the egress allowlist)."""

    def __init__(self, env: dict[str, str], concurrency: int = 2) -> None:
        self.data_dir = Path(tempfile.mkdtemp(prefix="asyncml-demo-"))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = self.data_dir / "asyncml-up.log"
        # Embedded whatever this shell has configured: the demo must not touch a real
        # deployment's broker or store.
        self.env = os.environ | env | {"ASYNCML_BROKER_URL": "", "ASYNCML_STORE_URL": ""}
        self.argv = [
            sys.executable,
            "-m",
            "asyncml",
            "up",
            "--port",
            str(self.port),
            "--data-dir",
            str(self.data_dir),
            "--concurrency",
            str(concurrency),
        ]
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> EmbeddedSystem:
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                self.argv, env=self.env, stdout=log, stderr=subprocess.STDOUT
            )
        try:
            self._wait_ready()
        except BaseException:
            self.__exit__()
            raise
        return self

    def _wait_ready(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + READY_TIMEOUT_S
        with httpx.Client(timeout=2) as http:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise SystemStartError(f"asyncml up exited early:\n{self.log_tail()}")
                try:
                    if http.get(f"{self.url}/readyz").status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                time.sleep(0.2)
        raise SystemStartError(
            f"asyncml up did not become ready in {READY_TIMEOUT_S:.0f}s:\n{self.log_tail()}"
        )

    def log_tail(self, lines: int = 25) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def __exit__(self, *_: object) -> None:
        if self.process is not None and self.process.poll() is None:
            # SIGTERM: the launcher stops the API and workers, then the embedded server.
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.data_dir, ignore_errors=True)
