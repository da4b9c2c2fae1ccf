"""A small static file server on loopback, for the demo, benchmarks and tests.

It honours ``Range`` (``bytes=a-b``, ``bytes=a-``, ``bytes=-n``) and reads only the
requested bytes from disk, so a 1 GB file costs what its header costs. Optional extras
for tests: ``/slow/<seconds>/<path>`` answers after a delay, and every request path is
logged in ``requests``.
"""

from __future__ import annotations

import contextlib
import re
import sys
import threading
import time
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote

_RANGE = re.compile(r"bytes=(\d*)-(\d*)")
_SLOW = re.compile(r"/slow/([\d.]+)(/.+)")
_CHUNK = 256 * 1024


def content_type(path: Path) -> str:
    return {
        ".html": "text/html; charset=utf-8",
        ".wav": "audio/wav",
        ".flac": "audio/flac",
        ".ogg": "audio/ogg",
        ".mp3": "audio/mpeg",
    }.get(path.suffix.lower(), "application/octet-stream")


def byte_range(header: str | None, size: int) -> tuple[int, int] | bool | None:
    """``(start, end)`` inclusive for a satisfiable range, None for no range, False if
    the range cannot be satisfied (answer 416)."""
    m = _RANGE.fullmatch(header or "")
    if not m or not (m.group(1) or m.group(2)):
        return None
    first, last = m.groups()
    if first:
        start, end = int(first), min(int(last or size - 1), size - 1)
    else:
        start, end = max(0, size - int(last)), size - 1
    if start >= size or start > end:
        return False
    return start, end


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        # Readers that stop once they have what they need hang up mid-transfer.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)  # type: ignore[arg-type]


class LocalFileServer:
    """Serve ``mounts`` (URL prefix → directory) on 127.0.0.1; ``root`` mounts at ``/``.

    A request for ``/<prefix>/<name>`` whose file is missing tries ``<name>.html`` (so
    ``/euro/05-01-2024`` can serve ``05-01-2024.html``); anything else missing is 404.
    """

    def __init__(
        self,
        root: Path | None = None,
        mounts: Mapping[str, Path] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        ranges: bool = True,
    ) -> None:
        self.mounts = {k.strip("/"): v for k, v in (mounts or {}).items()}
        if root is not None:
            self.mounts[""] = root
        self.requests: list[str] = []
        self.ranges = ranges
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            server_version = "asyncml-files"
            # Headers and body go out in separate writes; with Nagle on, the body waits for
            # the client's delayed ACK (~40 ms) on every response.
            disable_nagle_algorithm = True

            def log_message(self, *args: object) -> None:
                pass

            def do_HEAD(self) -> None:
                self._serve(body=False)

            def do_GET(self) -> None:
                self._serve(body=True)

            def _serve(self, body: bool) -> None:
                server.requests.append(self.path)
                path = unquote(self.path.split("?", 1)[0])
                if m := _SLOW.fullmatch(path):
                    time.sleep(float(m.group(1)))
                    path = m.group(2)
                file = server.resolve(path)
                if file is None:
                    self._head(404, "text/plain", 10)
                    if body:
                        self.wfile.write(b"not found\n")
                    return
                size = file.stat().st_size
                span = byte_range(self.headers.get("Range"), size) if server.ranges else None
                if span is False:
                    self._head(416, content_type(file), 0, {"Content-Range": f"bytes */{size}"})
                    return
                start, end = span if isinstance(span, tuple) else (0, size - 1)
                extra = {"Accept-Ranges": "bytes"} if server.ranges else {}
                if isinstance(span, tuple):
                    extra["Content-Range"] = f"bytes {start}-{end}/{size}"
                self._head(206 if span else 200, content_type(file), end - start + 1, extra)
                if body:
                    self._copy(file, start, end - start + 1)

            def _head(
                self, status: int, kind: str, length: int, extra: dict[str, str] | None = None
            ) -> None:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(length))
                for key, value in (extra or {}).items():
                    self.send_header(key, value)
                self.end_headers()

            def _copy(self, file: Path, start: int, length: int) -> None:
                with open(file, "rb") as f, contextlib.suppress(ConnectionError):
                    f.seek(start)
                    while length > 0:
                        chunk = f.read(min(_CHUNK, length))
                        if not chunk:
                            break
                        self.wfile.write(chunk)
                        length -= len(chunk)

        self.httpd = _Server((host, port), Handler)
        self.port = int(self.httpd.server_address[1])
        self.base_url = f"http://{host}:{self.port}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def resolve(self, path: str) -> Path | None:
        prefix, _, rest = path.lstrip("/").partition("/")
        if prefix in self.mounts and rest:
            root, name = self.mounts[prefix], rest
        elif "" in self.mounts:
            root, name = self.mounts[""], path.lstrip("/")
        else:
            return None
        base = root.resolve()
        for candidate in (base / name, base / f"{name}.html"):
            file = candidate.resolve()
            if base in file.parents and file.is_file():
                return file
        return None

    def start(self) -> LocalFileServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> LocalFileServer:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()
