"""A local HTTP server for integration tests: static files with Range support, EuroMillions
pages in the real site's shape, slow responses, and a request log."""

from __future__ import annotations

import contextlib
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote

_RANGE = re.compile(r"bytes=(\d*)-(\d*)")


class FileServer:
    """Serves ``root``. ``/slow/<seconds>/<name>`` waits before answering;
    ``/euro/<DD-MM-YYYY>`` serves ``root/euro/<date>.html``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.requests: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                server.requests.append(self.path)
                path = unquote(self.path.split("?", 1)[0])
                if m := re.fullmatch(r"/slow/([\d.]+)/(.+)", path):
                    time.sleep(float(m.group(1)))
                    path = "/" + m.group(2)
                if m := re.fullmatch(r"/euro/([\d-]+)", path):
                    path = f"/euro/{m.group(1)}.html"
                file = (server.root / path.lstrip("/")).resolve()
                if server.root.resolve() not in file.parents or not file.is_file():
                    self._send(404, b"not found", "text/plain")
                    return
                data = file.read_bytes()
                kind = "text/html" if file.suffix == ".html" else "application/octet-stream"
                header = self.headers.get("Range")
                m = _RANGE.fullmatch(header or "")
                if m and (m.group(1) or m.group(2)) and data:
                    first, last = m.groups()
                    if first:
                        start, end = int(first), min(int(last or len(data) - 1), len(data) - 1)
                    else:
                        start, end = max(0, len(data) - int(last)), len(data) - 1
                    if start >= len(data):
                        self._send(416, b"", kind, {"Content-Range": f"bytes */{len(data)}"})
                        return
                    extra = {"Content-Range": f"bytes {start}-{end}/{len(data)}"}
                    self._send(206, data[start : end + 1], kind, extra)
                    return
                self._send(200, data, kind, {"Accept-Ranges": "bytes"})

            def _send(
                self, status: int, body: bytes, kind: str, extra: dict[str, str] | None = None
            ) -> None:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                for key, value in (extra or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def start(self) -> FileServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
