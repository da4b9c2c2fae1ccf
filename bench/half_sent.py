"""Half-sent requests against one API process: how long dripping heads are held, and what
unfinished huge headers cost in memory. Not a test; figures for docs/reliability.md.

    ASYNCML_STORE_URL=redis://127.0.0.1:6379/11 ASYNCML_BROKER_URL=redis://127.0.0.1:6379/10 \
        .venv/bin/python bench/half_sent.py --connections 1000 --seconds 45
"""

from __future__ import annotations

import argparse
import contextlib
import os
import selectors
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--connections", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=45)
    parser.add_argument("--port", type=int, default=5099)
    args = parser.parse_args()
    env = os.environ | {"ASYNCML_PORT": str(args.port), "ASYNCML_LOG_LEVEL": "WARNING"}
    api = subprocess.Popen([sys.executable, "-m", "asyncml", "api"], env=env)
    url = f"http://127.0.0.1:{args.port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
        print(f"API rss at start: {_rss_mb(api.pid):.0f} MB")

        # 1. Dripping heads: a header line every second on each connection.
        socks = []
        for _ in range(args.connections):
            s = socket.create_connection(("127.0.0.1", args.port))
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            s.setblocking(False)
            socks.append(s)
        selector = selectors.DefaultSelector()
        for s in socks:
            selector.register(s, selectors.EVENT_READ)
        start, open_ = time.monotonic(), set(socks)
        last_drip, closed_at = start, []
        while open_ and time.monotonic() - start < args.seconds:
            for key, _ in selector.select(timeout=0.2):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                with contextlib.suppress(BlockingIOError):
                    try:
                        while sock.recv(65536):
                            pass
                    except OSError:
                        pass
                    selector.unregister(sock)
                    open_.discard(sock)
                    closed_at.append(time.monotonic() - start)
            if time.monotonic() - last_drip >= 1:
                last_drip = time.monotonic()
                for s in open_:
                    with contextlib.suppress(OSError):
                        s.send(b"X-Drip: 1\r\n")
        elapsed = time.monotonic() - start
        latest = max(closed_at, default=0)
        print(
            f"dripping heads: {args.connections} opened, {len(open_)} still open after "
            f"{elapsed:.1f} s; the last one closed by the API after {latest:.1f} s"
        )
        print(f"healthz while they dripped: {httpx.get(f'{url}/healthz').status_code}")
        for s in socks:
            s.close()

        # 2. Three unfinished 100 MB headers, sent at once.
        before = _rss_mb(api.pid)
        sent_total, peak = [], before
        big = [socket.create_connection(("127.0.0.1", args.port)) for _ in range(3)]
        for s in big:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ")
            s.settimeout(2)
            sent = 0
            with contextlib.suppress(OSError):
                while sent < 100 * 1024 * 1024:
                    s.sendall(b"a" * 65536)
                    sent += 65536
                    if sent % (8 * 1024 * 1024) == 0:
                        peak = max(peak, _rss_mb(api.pid))
            sent_total.append(sent)
        peak = max(peak, _rss_mb(api.pid))
        print(
            f"3 huge heads: accepted {[round(n / 2**20, 2) for n in sent_total]} MiB each "
            f"before the API stopped reading; rss {before:.0f} MB before, peak {peak:.0f} MB"
        )
        for s in big:
            s.close()
    finally:
        api.terminate()
        api.wait(20)


if __name__ == "__main__":
    main()
