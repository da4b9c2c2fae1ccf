"""How promptly the egress client's deadline ends a fetch, and how fast the API's JSON depth
scan is: the speeds tests/unit/test_net.py and tests/unit/api/test_limits.py no longer
assert (issue 22: tests assert behaviour, benchmarks measure speed).

    python bench/deadlines.py [--runs 10] [--deadline 0.8]

A local server on 127.0.0.1 drips a byte every 0.1 s, or drips for most of the deadline
and then stalls, or says nothing; each fetch ends with the deadline's error, and this
prints how long after the deadline it ended (median and worst of ``--runs``). Then it
times ``json_depth`` on a million brackets.
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from asyncml.api.limits import json_depth
from asyncml.errors import FetchTimeoutError
from asyncml.net import Egress, EgressPolicy

STOP = threading.Event()


class Slow(BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        if self.path == "/stall":
            STOP.wait(30)
            return
        self.send_response(200)
        self.send_header("Content-Length", "100000")
        self.end_headers()
        drips = int(self.path.rsplit("/", 1)[1]) if self.path.startswith("/drip/") else 10**6
        try:
            for _ in range(drips):
                self.wfile.write(b"x")
                self.wfile.flush()
                if STOP.wait(0.1):
                    return
        except OSError:  # the client gave up: what is being measured
            return
        STOP.wait(30)


def overshoot(egress: Egress, url: str, deadline: float) -> float:
    started = time.monotonic()
    try:
        egress.fetch(url)
    except FetchTimeoutError:
        return time.monotonic() - started - deadline
    raise AssertionError(f"{url} ended without the deadline's error")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--deadline", type=float, default=0.8)
    args = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Slow)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    prompt = max(1, int(args.deadline * 10) - 1)  # drips for all but the last 0.1 s
    cases = {"drip": "/drip", "drip then stall": f"/drip/{prompt}", "silent": "/stall"}
    policy = EgressPolicy(allow=("127.0.0.1",), total_timeout=args.deadline)
    try:
        with Egress(policy) as egress:
            for name, path in cases.items():
                late = [overshoot(egress, base + path, args.deadline) for _ in range(args.runs)]
                median, worst = statistics.median(late), max(late)
                print(
                    f"{name:16} deadline {args.deadline:.1f}s: ended {median:+.3f}s after it "
                    f"(median), {worst:+.3f}s (worst of {args.runs})"
                )
    finally:
        STOP.set()
        server.shutdown()
    deep = b"[" * 500_000 + b"]" * 500_000
    started = time.perf_counter()
    assert json_depth(deep) == 500_000
    print(f"json_depth on 1,000,000 brackets: {time.perf_counter() - started:.3f}s")


if __name__ == "__main__":
    main()
