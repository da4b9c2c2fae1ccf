"""The local file server the integration tests download from (see asyncml.localfiles)."""

from __future__ import annotations

import contextlib
import select
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from asyncml.localfiles import LocalFileServer


class FileServer(LocalFileServer):
    """Serves ``root``: static files with Range support, ``/euro/<DD-MM-YYYY>`` from
    ``root/euro/<date>.html``, and ``/slow/<seconds>/<path>`` answering after a delay."""

    def __init__(self, root: Path) -> None:
        super().__init__(root=root)


class HoldServer:
    """Answers nothing: every GET or POST is recorded and held until the server stops, or
    until its client closes the connection (a stopped job): then its path goes to
    ``dropped`` with how long it was held."""

    def __init__(self) -> None:
        self.hits: list[str] = []
        self.clients: list[int] = []  # the source port of each held request
        self.dropped: list[tuple[str, float]] = []  # (path, seconds held) closed by the client
        self.release = threading.Event()
        holder = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                holder.clients.append(self.client_address[1])
                holder.hits.append(self.path)
                held = time.monotonic()
                while not holder.release.wait(0.05) and time.monotonic() - held < 30:
                    if _closed(self.connection):
                        holder.dropped.append((self.path, time.monotonic() - held))
                        return
                with contextlib.suppress(OSError):
                    self.send_error(503)

            do_POST = do_GET  # a webhook receiver that hangs

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


def _closed(connection: socket.socket) -> bool:
    """Whether the peer closed (or reset) the connection: readable with nothing to read."""
    if not select.select([connection], [], [], 0)[0]:
        return False
    try:
        return connection.recv(1, socket.MSG_PEEK) == b""
    except OSError:
        return True


class FlakyServer:
    """Answers each path 503 ``failures`` times, then 200 with ``body``: an origin that is
    down for a moment."""

    def __init__(self, failures: int, body: bytes = b"x" * 1000) -> None:
        self.hits: dict[str, int] = {}
        flaky = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                seen = flaky.hits[self.path] = flaky.hits.get(self.path, 0) + 1
                if seen <= failures:
                    self.send_error(503)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
