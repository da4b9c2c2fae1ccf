"""Half-sent requests over real sockets: a request head that never ends, arrives a byte at
a time, or grows without bound is cut off, and the API keeps serving everyone else."""

from __future__ import annotations

import contextlib
import selectors
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.integration.conftest import start_stack, stop_stack
from tests.integration.fileserver import FileServer
from tests.integration.stack import Stack

pytestmark = pytest.mark.integration

HEAD_TIMEOUT_S = 1.0
MAX_HEAD = 8192


@pytest.fixture(scope="module")
def guarded(files: FileServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp: Path = tmp_path_factory.mktemp("half-sent")
    env = {
        "ASYNCML_HEADER_TIMEOUT_S": str(HEAD_TIMEOUT_S),
        "ASYNCML_MAX_HEADER_BYTES": str(MAX_HEAD),
    }
    stack = start_stack("redis", files, tmp, workers=0, env=env)
    yield stack
    stop_stack(stack, tmp)


def _connect(stack: Stack) -> socket.socket:
    return socket.create_connection(("127.0.0.1", stack.port), timeout=5)


def _closed(sock: socket.socket) -> bool:
    """Whether the server has ended the connection (an answer before it is fine)."""
    try:
        while chunk := sock.recv(65536):
            del chunk
        return True
    except BlockingIOError:
        return False
    except OSError:
        return True


def test_heads_that_never_end_are_cut_off(guarded: Stack) -> None:
    # Silent, partial and dripping heads (slowloris: a header line every 0.2 s, so the
    # connection is never idle), many of each.
    silent = [_connect(guarded) for _ in range(100)]
    partial = [_connect(guarded) for _ in range(100)]
    dripping = [_connect(guarded) for _ in range(100)]
    for sock in partial + dripping:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
    opened = time.monotonic()
    open_ = {
        sock: kind
        for kind, group in [("silent", silent), ("partial", partial), ("dripping", dripping)]
        for sock in group
    }
    selector = selectors.DefaultSelector()
    for sock in open_:
        sock.setblocking(False)
        selector.register(sock, selectors.EVENT_READ)
    deadline = opened + HEAD_TIMEOUT_S + 5
    try:
        while open_ and time.monotonic() < deadline:
            for key, _ in selector.select(timeout=0.2):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                if _closed(sock):
                    selector.unregister(sock)
                    del open_[sock]
            for sock, kind in open_.items():
                if kind == "dripping":
                    with contextlib.suppress(OSError):
                        sock.send(b"X-Drip: 1\r\n")
        elapsed = time.monotonic() - opened
    finally:
        for sock in silent + partial + dripping:
            sock.close()
        selector.close()
    left = sorted(set(open_.values()))
    assert not open_, (
        f"{len(open_)} connections ({', '.join(left)}) still open after {elapsed:.1f} s"
    )
    assert guarded.client.get("/healthz").status_code == 200


def test_a_head_over_the_cap_is_431_before_it_ends(guarded: Stack) -> None:
    with _connect(guarded) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ")
        sent = 0
        with contextlib.suppress(OSError):  # the server may close while we still send
            for _ in range(1024):  # up to 64 MiB, never terminated
                sock.sendall(b"a" * 65536)
                sent += 65536
        answer = b""
        with contextlib.suppress(OSError):
            while chunk := sock.recv(65536):
                answer += chunk
    assert answer.startswith(b"HTTP/1.1 431"), answer[:200]
    assert sent < 16 * 1024 * 1024  # refused long before the client stopped sending


def _read_response(sock: socket.socket, buffered: bytes = b"") -> tuple[bytes, bytes]:
    """One response with a Content-Length (head and body), and what was read past it."""
    data = buffered
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536) or pytest.fail(f"closed mid-response: {data!r}")
    head, _, rest = data.partition(b"\r\n\r\n")
    length = int(
        next(
            line.split(b":")[1]
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length")
        )
    )
    while len(rest) < length:
        rest += sock.recv(65536) or pytest.fail("closed mid-body")
    return head + b"\r\n\r\n" + rest[:length], rest[length:]


def test_a_pipelined_head_waits_for_the_answer_before_it(guarded: Stack) -> None:
    # Without a worker the job stays queued: the long-poll lasts its whole wait, longer
    # than the head deadline, while the next request's head sits half-sent behind it.
    job_id = guarded.submit("euro.results", {"draw_date": "2024-01-05"}).json()["id"]
    wait = HEAD_TIMEOUT_S * 2.5
    with _connect(guarded) as sock:
        sock.sendall(
            f"GET /v1/jobs/{job_id}?wait={wait} HTTP/1.1\r\nHost: x\r\n\r\n".encode()
            + b"GET /healthz HTTP/1.1\r\nHost: x\r\n"
        )
        first, extra = _read_response(sock)
        assert first.startswith(b"HTTP/1.1 200"), first[:200]
        sock.sendall(b"\r\n")  # the second head ends as soon as the first answer is in
        second, _ = _read_response(sock, extra)
        assert second.startswith(b"HTTP/1.1 200"), second[:200]


def test_ordinary_requests_still_pass(guarded: Stack) -> None:
    headers = {f"X-Fill-{n}": "v" * 100 for n in range(40)}  # about 4.5 KB of headers
    with httpx.Client(base_url=guarded.url) as client:
        assert client.get("/healthz", headers=headers).status_code == 200
        # A kept-alive connection serves a second request after a pause.
        assert client.get("/healthz").status_code == 200
