"""``asyncml up``: start the API and one worker per queue, supervise them, stop them cleanly."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import time
from collections.abc import Sequence
from types import FrameType

import httpx

from asyncml.embedded import EmbeddedServer, EmbeddedServerError
from asyncml.ports import PortUnavailableError, check_free
from asyncml.settings import Settings
from asyncml.supervise import Child, Supervisor

log = logging.getLogger(__name__)
READY_TIMEOUT_S = 60.0


class Launcher:
    def __init__(
        self,
        settings: Settings,
        *,
        queues: Sequence[str],
        concurrency: int,
        server: EmbeddedServer | None,
    ) -> None:
        """``server``: the embedded server this process is attached to (None: distributed)."""
        self.settings = settings
        self.queues = list(queues)
        self.stopping = False
        python = [sys.executable, "-m", "asyncml"]
        children = [Child("api", [*python, "api"])] + [
            Child(
                f"worker:{q}", [*python, "worker", "--queues", q, "--concurrency", str(concurrency)]
            )
            for q in self.queues
        ]
        env = os.environ | {
            "ASYNCML_HOST": settings.host,
            "ASYNCML_PORT": str(settings.port),
            "ASYNCML_DATA_DIR": str(settings.data_dir),
        }
        self.supervisor = Supervisor(children, env)
        self.children = children
        # The embedded Valkey daemonizes, so it is no child to restart: it is watched apart.
        self.server = server

    def _on_signal(self, signum: int, _: FrameType | None) -> None:
        log.info("received %s, shutting down", signal.Signals(signum).name)
        self.stopping = True

    def run(self) -> int:
        signal.signal(signal.SIGINT, self._on_signal)
        signal.signal(signal.SIGTERM, self._on_signal)
        try:
            # Checked before the API starts: the readiness check below cannot tell our own
            # API from another process answering on that port.
            check_free(self.settings.host, self.settings.port)
        except PortUnavailableError as exc:
            log.error("%s", exc)
            self._stop_server()
            return 1
        self.supervisor.start()
        code = 0
        try:
            if not self._wait_ready():
                return 1
            self._announce()
            while not self.stopping:
                if not self.supervisor.check():
                    self.stopping = True
                self._keep_server()
                time.sleep(0.2)
        finally:
            # Stopping the API first stops new work from arriving while the workers finish
            # what they hold (late acks: a worker stopped first would strand nothing either).
            # A worker finishes the jobs in hand first: allow for the longest.
            self.supervisor.stop(self.settings.task_time_limit_s + 10)
            self._stop_server()
        return code

    def _keep_server(self) -> None:
        if self.server is None:
            return
        try:
            self.server.revive()
        except EmbeddedServerError as exc:  # tried again on the next round
            log.error("%s", exc)

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
            f"workers for {', '.join(self.queues)}; {where}. Ctrl-C to stop.\n"
        )
        sys.stdout.flush()

    def _stop_server(self) -> None:
        """Leave the embedded server: it stops unless another asyncml process (an
        `asyncml worker` started apart on the same data directory) still uses it."""
        if self.server is not None:
            self.server.detach()
