"""The egress client against real loopback servers: policy, pinning, caps, deadlines, ranges."""

from __future__ import annotations

import functools
import gzip
import io
import ipaddress
import json
import random
import re
import socket
import ssl
import subprocess
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest

from asyncml.authoring import Context
from asyncml.errors import (
    DestinationNotAllowedError,
    DownloadError,
    FetchTimeoutError,
    TooLargeError,
)
from asyncml.models.audio import probe
from asyncml.net import Egress, EgressPolicy
from asyncml.net.body import DRAIN_SECONDS
from asyncml.net.pinning import READ_CHUNK
from asyncml.net.policy import address_problem
from asyncml.settings import Settings
from asyncml.tasks.audio_length import AudioLength, AudioLengthTask, AudioUrl
from asyncml.worker.context import WorkerContext
from tests.audio_fixtures import wav_bytes
from tests.conftest import missing, require_tool

MiB = 1024 * 1024
SPARSE_SIZE = 50 * MiB
LOOPBACK = EgressPolicy(allow=("127.0.0.1", "::1"))
GZIP_PAYLOAD = b"hello gzip " * 5000
RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
CLIP_FRAMES = 150_000  # 8 kHz mono 16-bit: 300 KB, under the 1 MiB drain cap
LONG_FRAMES = 800_000  # 1.6 MB, over it
STALL_AFTER = 64 * 1024
TEN_MINUTES_S = 600


@functools.cache
def gzip_bomb() -> bytes:
    return gzip.compress(b"\0" * 20 * MiB, compresslevel=6)  # about 20 KiB on the wire


# --- loopback servers -----------------------------------------------------------------


class LoopbackServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], files: dict[str, Path]) -> None:
        super().__init__(address, Handler)
        self.files = files
        self.stop = threading.Event()
        self.connections = 0
        self.log: list[tuple[str, dict[str, str]]] = []

    def get_request(self) -> tuple[Any, Any]:
        request = super().get_request()
        self.connections += 1
        return request

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients hang up on purpose (caps, deadlines)

    @property
    def paths(self) -> list[str]:
        return [path for path, _ in self.log]


class LoopbackServer6(LoopbackServer):
    address_family = socket.AF_INET6


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: LoopbackServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.send_body(200, b"ok " * 2000)

    def do_GET(self) -> None:
        self.server.log.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
        path, _, query = self.path.partition("?")
        route, _, rest = path.strip("/").partition("/")
        handler = getattr(self, "route_" + route.replace("-", "_"), None)
        try:
            if handler is None:
                self.send_body(404, b"not found")
            else:
                handler(rest, parse_qs(query))
        except OSError:
            self.close_connection = True

    def send_body(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def stream(self, path: Path, start: int, length: int) -> None:
        with path.open("rb") as f:
            f.seek(start)
            while length > 0 and not self.server.stop.is_set():
                chunk = f.read(min(length, 64 * 1024))
                self.wfile.write(chunk)
                length -= len(chunk)

    def route_range(self, name: str, query: dict[str, list[str]]) -> None:
        """Honours ``bytes=a-b``, ``bytes=a-`` and ``bytes=-n``."""
        path = self.server.files[name]
        size = path.stat().st_size
        match = RANGE.match(self.headers.get("Range", ""))
        if match is None:
            self.send_response(200)
            self.send_header("Content-Length", str(size))
            self.end_headers()
            self.stream(path, 0, size)
            return
        first, last = match.groups()
        if first:
            start, end = int(first), min(int(last) if last else size - 1, size - 1)
        else:
            start, end = max(0, size - int(last)), size - 1
        if start >= size or start > end:
            self.send_body(416, b"", {"Content-Range": f"bytes */{size}"})
            return
        self.send_response(206)
        self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.send_header("Content-Length", str(end - start + 1))
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("ETag", '"v1"')
        self.end_headers()
        self.stream(path, start, end - start + 1)

    def route_plain(self, name: str, query: dict[str, list[str]]) -> None:
        """Ignores Range, like many simple servers."""
        path = self.server.files[name]
        self.send_response(200)
        self.send_header("Content-Length", str(path.stat().st_size))
        self.send_header("Content-Type", "audio/ogg")
        self.end_headers()
        self.stream(path, 0, path.stat().st_size)

    def route_closing(self, name: str, query: dict[str, list[str]]) -> None:
        """Ignores Range and closes the connection after each answer, like HTTP/1.0 servers."""
        path = self.server.files[name]
        self.send_response(200)
        self.send_header("Connection", "close")
        self.send_header("Content-Length", str(path.stat().st_size))
        self.end_headers()
        self.stream(path, 0, path.stat().st_size)

    def route_stall_midway(self, name: str, query: dict[str, list[str]]) -> None:
        """Ignores Range, sends the start of the body, then nothing more."""
        path = self.server.files[name]
        self.send_response(200)
        self.send_header("Content-Length", str(path.stat().st_size))
        self.end_headers()
        self.stream(path, 0, STALL_AFTER)
        self.wfile.flush()
        self.server.stop.wait(30)
        self.close_connection = True

    def route_unsized(self, name: str, query: dict[str, list[str]]) -> None:
        """No Content-Length: the body ends when the connection closes."""
        path = self.server.files[name]
        self.close_connection = True
        self.send_response(200)
        self.end_headers()
        self.stream(path, 0, path.stat().st_size)

    def route_endless(self, rest: str, query: dict[str, list[str]]) -> None:
        self.close_connection = True
        self.send_response(200)
        self.end_headers()
        while not self.server.stop.is_set():
            self.wfile.write(b"x" * 65536)

    def route_drip(self, rest: str, query: dict[str, list[str]]) -> None:
        """One byte every 0.1 s: no single read is slow, the whole is."""
        self.send_response(200)
        self.send_header("Content-Length", "1000")
        self.end_headers()
        while not self.server.stop.wait(0.1):
            self.wfile.write(b"x")

    def route_drip_then_stall(self, rest: str, query: dict[str, list[str]]) -> None:
        """Prompt bytes (``?prompt=N``, 5 by default) 0.1 s apart, then silence: only a
        deadline on the whole fetch ends it."""
        self.send_response(200)
        self.send_header("Content-Length", "1000")
        self.end_headers()
        for _ in range(int(query.get("prompt", ["5"])[0])):
            self.wfile.write(b"x")
            if self.server.stop.wait(0.1):
                return
        self.server.stop.wait(30)

    def route_stall(self, rest: str, query: dict[str, list[str]]) -> None:
        self.close_connection = True
        self.server.stop.wait(30)

    def route_huge(self, rest: str, query: dict[str, list[str]]) -> None:
        """Declares a terabyte, then sends nothing: reading the body would hang."""
        self.close_connection = True
        self.send_response(200)
        self.send_header("Content-Length", str(10**12))
        self.end_headers()
        self.server.stop.wait(30)

    def route_gzip(self, rest: str, query: dict[str, list[str]]) -> None:
        self.send_body(200, gzip.compress(GZIP_PAYLOAD), {"Content-Encoding": "gzip"})

    def route_bomb(self, rest: str, query: dict[str, list[str]]) -> None:
        self.send_body(200, gzip_bomb(), {"Content-Encoding": "gzip"})

    def route_br(self, rest: str, query: dict[str, list[str]]) -> None:
        self.send_body(200, b"\x0b\x02\x80hello\x03", {"Content-Encoding": "br"})

    def route_redirect(self, rest: str, query: dict[str, list[str]]) -> None:
        hops = int(rest)
        if hops == 0:
            self.send_body(200, b"done")
        else:
            self.send_body(302, b"", {"Location": f"/redirect/{hops - 1}"})

    def route_goto(self, rest: str, query: dict[str, list[str]]) -> None:
        self.send_body(302, b"", {"Location": query["url"][0]})

    def route_echo(self, rest: str, query: dict[str, list[str]]) -> None:
        headers = {k.lower(): v for k, v in self.headers.items()}
        self.send_body(200, json.dumps(headers).encode(), {"Content-Type": "application/json"})


def _serve(server: LoopbackServer) -> Iterator[LoopbackServer]:
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.stop.set()
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("net")
    rng = random.Random(7)
    sparse = root / "sparse.bin"
    with sparse.open("wb") as f:
        f.truncate(SPARSE_SIZE)  # sparse: 50 MiB on paper, a few hundred KiB on disk
        for offset in (0, 20 * MiB + 12345, SPARSE_SIZE - 256 * 1024):
            f.seek(offset)
            f.write(rng.randbytes(256 * 1024))
    small = root / "small.bin"
    small.write_bytes(rng.randbytes(3 * MiB + 1234))
    empty = root / "empty.bin"
    empty.write_bytes(b"")
    clip = root / "clip.wav"
    clip.write_bytes(wav_bytes(data=rng.randbytes(2 * CLIP_FRAMES)))
    long = root / "long.wav"
    long.write_bytes(wav_bytes(data=rng.randbytes(2 * LONG_FRAMES)))
    # The README's example: a ten-minute 44.1 kHz stereo WAV (106 MB on paper, sparse).
    ten_minutes = root / "ten-minutes.wav"
    data_size = TEN_MINUTES_S * 44100 * 4
    with ten_minutes.open("wb") as f:
        header = wav_bytes(rate=44100, channels=2, data_size_field=data_size)
        f.write(header)
        f.truncate(len(header) + data_size)
    return {
        "sparse": sparse,
        "small": small,
        "empty": empty,
        "clip": clip,
        "long": long,
        "ten-minutes": ten_minutes,
    }


@pytest.fixture(scope="module")
def server(files: dict[str, Path]) -> Iterator[LoopbackServer]:
    yield from _serve(LoopbackServer(("127.0.0.1", 0), files))


@pytest.fixture(scope="module")
def server6(files: dict[str, Path]) -> Iterator[LoopbackServer]:
    try:
        instance = LoopbackServer6(("::1", 0), files)
    except OSError as exc:
        missing(f"no IPv6 loopback (::1) on this machine: {exc}")
    yield from _serve(instance)


@pytest.fixture
def base(server: LoopbackServer) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}"


@pytest.fixture
def egress() -> Iterator[Egress]:
    with Egress(LOOPBACK) as instance:
        yield instance


@dataclass
class FakeDNS:
    """An injected resolver: a fixed table, and a record of every lookup."""

    table: dict[str, list[str]]

    def __post_init__(self) -> None:
        self.calls: list[str] = []

    def __call__(self, host: str, port: int) -> list[str]:
        self.calls.append(host)
        if host not in self.table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return list(self.table[host])


def port_of(server: LoopbackServer) -> int:
    return int(server.server_address[1])


# --- policy ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "address",
    ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808"],
)
def test_public_addresses_pass(address: str) -> None:

    assert address_problem(ipaddress.ip_address(address)) is None


FORBIDDEN = [
    "127.0.0.1",
    "127.1.2.3",
    "::1",
    "10.1.2.3",
    "172.16.0.1",
    "192.168.1.1",
    "169.254.169.254",
    "100.64.0.1",
    "0.0.0.0",
    "::",
    "::ffff:127.0.0.1",
    "::ffff:10.0.0.1",
    "64:ff9b::7f00:1",
    "2002:7f00:1::",
    "fe80::1",
    "fc00::1",
    "fec0::1",
    "224.0.0.1",
    "ff02::1",
    "240.0.0.1",
    "198.18.0.1",
]


@pytest.mark.parametrize("address", FORBIDDEN)
def test_non_public_addresses_are_flagged(address: str) -> None:

    assert address_problem(ipaddress.ip_address(address)) is not None


def test_allow_string_parses_hosts_and_networks() -> None:
    policy = EgressPolicy.from_allow_string(" 127.0.0.1, 10.0.0.0/8 ,Files.Local., [::1],, ")
    assert policy.allow == ("127.0.0.1", "10.0.0.0/8", "Files.Local.", "[::1]")

    assert policy.refusal("files.local", ipaddress.ip_address("192.168.0.9")) is None
    assert policy.refusal("x", ipaddress.ip_address("10.9.9.9")) is None
    assert policy.refusal("x", ipaddress.ip_address("::ffff:127.0.0.1")) is None
    assert policy.refusal("x", ipaddress.ip_address("192.168.0.9")) == "private"


@pytest.mark.parametrize(
    "entry",
    [
        "10.0.0.0/33",
        "files.local:0",
        "files.local:x",
        "[::1:8080",
        "::1]:8080",
        "http://x",
        "a b",
        "*.x",
        ":0",
        ":70000",
        ":x",
        ":8080:",
    ],
)
def test_allow_string_names_the_bad_entry_and_the_accepted_forms(entry: str) -> None:
    with pytest.raises(ValueError, match=re.escape(repr(entry))) as info:
        EgressPolicy.from_allow_string(f"127.0.0.1,{entry}")
    assert "127.0.0.1:8765" in str(info.value)  # the forms it takes, host:port among them


def test_a_host_port_entry_opens_that_port_only(server: LoopbackServer) -> None:
    port = port_of(server)
    policy = EgressPolicy.from_allow_string(f"127.0.0.1:{port}")
    with Egress(policy) as egress:
        assert egress.fetch(f"http://127.0.0.1:{port}/redirect/0") == b"done"
        with pytest.raises(DestinationNotAllowedError) as info:
            egress.fetch(f"http://127.0.0.1:{port + 1}/echo")
    # The refusal says which setting opens the way, in the form that would.
    assert "ASYNCML_EGRESS_ALLOW" in info.value.message
    assert f"127.0.0.1:{port + 1}" in info.value.message


def test_host_port_entries_for_names_networks_and_ipv6() -> None:
    policy = EgressPolicy.from_allow_string("files.test:8080, 10.0.0.0/8:9000, [::1]:8765")
    ip = ipaddress.ip_address
    assert policy.refusal("files.test", ip("192.168.0.9"), 8080) is None
    assert policy.refusal("files.test", ip("192.168.0.9"), 8081) == "private"
    assert policy.refusal("files.test", ip("192.168.0.9")) == "private"
    assert policy.refusal("x", ip("10.1.2.3"), 9000) is None
    assert policy.refusal("x", ip("10.1.2.3"), 80) == "private"
    assert policy.refusal("x", ip("::1"), 8765) is None
    assert policy.may_open_port("files.test", 8080)
    assert not policy.may_open_port("other.test", 8080)
    assert policy.may_open_port("other.test", 9000)  # it may resolve into 10.0.0.0/8


# --- destinations ---------------------------------------------------------------------


def test_allowed_loopback_works(egress: Egress, base: str) -> None:
    assert egress.fetch(f"{base}/redirect/0") == b"done"


def test_loopback_refused_without_allow(server: LoopbackServer, base: str) -> None:
    before = server.connections
    with Egress(EgressPolicy()) as egress, pytest.raises(DestinationNotAllowedError) as info:
        egress.fetch(f"{base}/echo")
    assert "loopback" in info.value.message and "allowlist" in info.value.message
    assert info.value.code == "destination_not_allowed"
    assert server.connections == before


def test_localhost_refused_with_the_system_resolver(server: LoopbackServer) -> None:
    before = server.connections
    with Egress(EgressPolicy()) as egress, pytest.raises(DestinationNotAllowedError):
        egress.fetch(f"http://localhost:{port_of(server)}/echo")
    assert server.connections == before


@pytest.mark.parametrize("address", FORBIDDEN)
def test_names_resolving_to_non_public_addresses_are_refused(
    server: LoopbackServer, address: str
) -> None:
    dns = FakeDNS({"target.test": [address]})
    before, requests = server.connections, len(server.log)
    policy = EgressPolicy(connect_timeout=0.5, total_timeout=1.0)
    with Egress(policy, resolver=dns) as egress, pytest.raises(DestinationNotAllowedError):
        egress.fetch(f"http://target.test:{port_of(server)}/echo")
    assert dns.calls == ["target.test"]
    assert (server.connections, len(server.log)) == (before, requests)


def test_one_bad_address_among_good_ones_is_enough(server: LoopbackServer) -> None:
    dns = FakeDNS({"mixed.test": ["93.184.216.34", "127.0.0.1"]})
    before = server.connections
    with Egress(EgressPolicy(), resolver=dns) as egress, pytest.raises(DestinationNotAllowedError):
        egress.fetch(f"http://mixed.test:{port_of(server)}/echo")
    assert server.connections == before


@pytest.mark.parametrize("host", ["[::1]", "0.0.0.0", "[::ffff:127.0.0.1]", "127.0.0.2"])
def test_ip_literals_are_checked_without_dns(server: LoopbackServer, host: str) -> None:
    dns = FakeDNS({})
    with Egress(EgressPolicy(), resolver=dns) as egress, pytest.raises(DestinationNotAllowedError):
        egress.fetch(f"http://{host}:{port_of(server)}/echo")
    assert dns.calls == []


def test_ipv6_loopback_refused_then_allowed(server6: LoopbackServer) -> None:
    url = f"http://[::1]:{port_of(server6)}/redirect/0"
    before = server6.connections
    with Egress(EgressPolicy()) as egress, pytest.raises(DestinationNotAllowedError):
        egress.fetch(url)
    assert server6.connections == before
    with Egress(EgressPolicy(allow=("::1",))) as egress:
        assert egress.fetch(url) == b"done"


def test_connection_goes_to_the_checked_address(server: LoopbackServer) -> None:
    # files.test exists only in the injected resolver, so the fetch can only succeed if the
    # connection goes to the address that was checked, with no second lookup to rebind.
    dns = FakeDNS({"files.test": ["127.0.0.1"]})
    policy = EgressPolicy(allow=("127.0.0.0/8",))
    with Egress(policy, resolver=dns) as egress:
        headers = json.loads(egress.fetch(f"http://files.test:{port_of(server)}/echo"))
    assert dns.calls == ["files.test"]
    assert headers["host"] == f"files.test:{port_of(server)}"
    assert headers["user-agent"] == "asyncml/0.1"
    assert headers["accept-encoding"] == "identity"


def test_next_checked_address_is_tried_when_one_refuses(server: LoopbackServer) -> None:
    dns = FakeDNS({"files.test": ["127.0.0.3", "127.0.0.1"]})  # nothing listens on .3
    with Egress(EgressPolicy(allow=("127.0.0.0/8",)), resolver=dns) as egress:
        assert egress.fetch(f"http://files.test:{port_of(server)}/redirect/0") == b"done"


def test_allowed_host_name_covers_its_addresses(server: LoopbackServer) -> None:
    dns = FakeDNS({"files.test": ["127.0.0.1"]})
    with Egress(EgressPolicy(allow=("Files.Test.",)), resolver=dns) as egress:
        assert egress.fetch(f"http://FILES.test.:{port_of(server)}/redirect/0") == b"done"


def test_injected_transport_is_sent_the_checked_ip() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=b"ok")

    dns = FakeDNS({"files.test": ["10.1.2.3"]})
    policy = EgressPolicy(allow=("files.test",), user_agent="probe/1")
    with Egress(policy, resolver=dns, transport=httpx.MockTransport(handler)) as egress:
        assert egress.fetch("https://files.test/a?token=x") == b"ok"
    (request,) = seen
    assert request.url.host == "10.1.2.3"
    assert request.headers["Host"] == "files.test"
    assert request.headers["User-Agent"] == "probe/1"
    assert request.extensions["sni_hostname"] == "files.test"


@pytest.mark.parametrize(
    ("url", "error", "text"),
    [
        ("ftp://127.0.0.1/x", DestinationNotAllowedError, "only http and https"),
        ("file:///etc/passwd", DestinationNotAllowedError, "only http and https"),
        ("gopher://127.0.0.1:70/", DestinationNotAllowedError, "only http and https"),
        ("not a url", DestinationNotAllowedError, "only http and https"),
        ("http://user:hunter2@127.0.0.1/", DestinationNotAllowedError, "credentials"),
        ("http:///no-host", DownloadError, "no host"),
        ("http://exa mple.com/", DownloadError, "not a valid host name"),
        ("http://127.0.0.1:99999/", DownloadError, "out of range"),
        ("http://[fe80::1%25eth0]/", DownloadError, "not a valid host name"),
    ],
)
def test_bad_urls_are_refused(url: str, error: type[Exception], text: str) -> None:
    with Egress(LOOPBACK) as egress, pytest.raises(error, match=text) as info:
        egress.fetch(url)
    assert "hunter2" not in str(info.value)


@pytest.mark.parametrize(
    "url",
    [
        "http://8.8.8.8:25/",
        "http://files.test:6379/a.wav",
        "https://files.test:80/a.wav",
        "http://files.test:443/a.wav",
        "http://[2606:4700:4700::1111]:8080/",
    ],
)
def test_only_the_schemes_own_port_on_public_hosts(url: str) -> None:
    dns = FakeDNS({"files.test": ["93.184.216.34"]})
    sent: list[httpx.Request] = []
    transport = httpx.MockTransport(lambda request: sent.append(request) or httpx.Response(200))
    egress = Egress(EgressPolicy(), resolver=dns, transport=transport)
    with egress, pytest.raises(DestinationNotAllowedError, match="port") as info:
        egress.fetch(url)
    assert "allowlist" in str(info.value) and sent == []


def test_a_listed_port_or_host_opens_other_ports() -> None:
    dns = FakeDNS({"files.test": ["93.184.216.34"]})
    transport = httpx.MockTransport(lambda request: httpx.Response(200, content=b"ok"))
    for allow in ((":8080",), ("files.test",), ("93.184.216.0/24",)):
        with Egress(EgressPolicy(allow=allow), resolver=dns, transport=transport) as egress:
            assert egress.fetch("http://files.test:8080/a.wav") == b"ok"
    with Egress(EgressPolicy(allow=(":8080",)), resolver=dns, transport=transport) as egress:
        with pytest.raises(DestinationNotAllowedError, match="port 8081"):
            egress.fetch("http://files.test:8081/a.wav")
        assert egress.fetch("http://files.test/a.wav") == b"ok"


def test_a_listed_port_opens_no_private_address(server: LoopbackServer) -> None:
    before = server.connections
    policy = EgressPolicy(allow=(f":{port_of(server)}",))
    with Egress(policy) as egress, pytest.raises(DestinationNotAllowedError, match="loopback"):
        egress.fetch(f"http://127.0.0.1:{port_of(server)}/files/small.bin")
    assert server.connections == before


# --- redirects ------------------------------------------------------------------------


def test_redirects_are_followed_up_to_the_limit(server: LoopbackServer, base: str) -> None:
    with Egress(EgressPolicy(allow=("127.0.0.1",), max_redirects=3)) as egress:
        assert egress.fetch(f"{base}/redirect/3") == b"done"
        with pytest.raises(DownloadError, match="redirected more than 3 times"):
            egress.fetch(f"{base}/redirect/4")


@pytest.mark.parametrize(
    "destination",
    ["http://evil.test:{port}/echo", "http://127.0.0.1:{port}/echo", "ftp://files.test/x"],
)
def test_redirect_to_a_forbidden_destination_is_refused(
    server: LoopbackServer, destination: str
) -> None:
    port = port_of(server)
    dns = FakeDNS({"files.test": ["127.0.0.1"], "evil.test": ["127.0.0.1"]})
    target = destination.format(port=port)
    start = len(server.log)
    with (
        Egress(EgressPolicy(allow=("files.test",)), resolver=dns) as egress,
        pytest.raises(DestinationNotAllowedError),
    ):
        egress.fetch(f"http://files.test:{port}/goto?url={target}")
    assert [path.split("?")[0] for path in server.paths[start:]] == ["/goto"]


# --- errors ---------------------------------------------------------------------------


def test_http_error_status_names_the_url_without_its_query(egress: Egress, base: str) -> None:
    with pytest.raises(DownloadError) as info:
        egress.fetch(f"{base}/missing?token=s3cret")
    assert info.value.message == f"GET {base}/missing returned HTTP 404"
    assert info.value.code == "download_failed"


def test_connection_refused() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with Egress(LOOPBACK) as egress, pytest.raises(DownloadError, match="could not connect"):
        egress.fetch(f"http://127.0.0.1:{port}/")


def test_name_that_does_not_resolve() -> None:
    with (
        Egress(LOOPBACK, resolver=FakeDNS({})) as egress,
        pytest.raises(DownloadError, match=r"could not connect to nowhere\.test"),
    ):
        egress.fetch("http://nowhere.test/")


# --- byte caps ------------------------------------------------------------------------


def test_declared_length_over_the_cap_is_refused_before_the_body(base: str) -> None:
    # The server never sends the body: reading it would end in a timeout, not TooLargeError.
    with (
        Egress(EgressPolicy(allow=("127.0.0.1",), total_timeout=5)) as egress,
        pytest.raises(TooLargeError, match="over the 1 MiB limit"),
    ):
        egress.fetch(f"{base}/huge", max_bytes=MiB)


def test_a_remote_file_declared_over_the_cap_is_refused_at_open(base: str) -> None:
    # As for fetch: the server declares a terabyte and sends nothing, so only the declared
    # length can end this before the deadline (audio.length opens files this way).
    with (
        Egress(EgressPolicy(allow=("127.0.0.1",), total_timeout=30)) as egress,
        pytest.raises(TooLargeError, match="over the 1 MiB limit"),
    ):
        egress.open(f"{base}/huge", max_bytes=MiB)  # a timeout would be FetchTimeoutError


def test_endless_body_stops_at_the_cap(egress: Egress, base: str) -> None:
    with pytest.raises(TooLargeError) as info:
        egress.fetch(f"{base}/endless", max_bytes=MiB)
    assert info.value.code == "too_large"


def test_gzip_body_is_decoded(egress: Egress, base: str) -> None:
    assert egress.fetch(f"{base}/gzip") == GZIP_PAYLOAD


def test_gzip_bomb_is_capped_on_the_decoded_size(egress: Egress, base: str) -> None:
    gzip_bomb()  # built before measuring: the server's 20 MiB of zeros is not ours
    tracemalloc.start()
    try:
        with pytest.raises(TooLargeError):
            egress.fetch(f"{base}/bomb", max_bytes=MiB)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * MiB  # never inflated much past the cap, not even one chunk's worth


def test_unknown_content_encoding_is_refused(egress: Egress, base: str) -> None:
    with pytest.raises(DownloadError, match="br-encoded"):
        egress.fetch(f"{base}/br")


# --- deadlines ------------------------------------------------------------------------
# The behaviour, not the speed: each fetch ends with the deadline's own error, never before
# the deadline, and far sooner than it would without one (the server keeps the connection
# for 30 s, a drip of 1000 bytes takes 100 s). Upper bounds are only that far; how fast a
# deadline ends a fetch is a figure for bench/, not a test.


def _timed(action: Callable[[], object]) -> float:
    start = time.monotonic()
    with pytest.raises(FetchTimeoutError, match="took too long"):
        action()
    return time.monotonic() - start


QUICK_S = 0.8
EARLY_S = 0.05  # a socket timeout may round a hair below the deadline it was given
NEVER_S = 10.0  # well under what a fetch without a deadline would take here (30-100 s)


@pytest.fixture
def quick() -> Iterator[Egress]:
    with Egress(EgressPolicy(allow=("127.0.0.1",), total_timeout=QUICK_S)) as instance:
        yield instance


def test_slow_drip_hits_the_total_deadline(quick: Egress, base: str) -> None:
    assert QUICK_S - EARLY_S <= _timed(lambda: quick.fetch(f"{base}/drip")) < NEVER_S


def test_deadline_holds_within_a_single_slow_read(base: str) -> None:
    # httpx's read timeout is per read and fixed when the request starts; the deadline is
    # not: the read that is waiting when it passes must end there, not a full timeout later.
    # The server drips for 1.8 s of a 2 s deadline, then stalls: the deadline ends the fetch
    # at 2 s; a read timeout fixed at the start (2 s) would end it at 3.8 s.
    with Egress(EgressPolicy(allow=("127.0.0.1",), total_timeout=2.0)) as egress:
        seconds = _timed(lambda: egress.fetch(f"{base}/drip-then-stall?prompt=18"))
    assert 2.0 - EARLY_S <= seconds < 3.0, seconds


def test_silent_server_hits_the_total_deadline(quick: Egress, base: str) -> None:
    assert QUICK_S - EARLY_S <= _timed(lambda: quick.fetch(f"{base}/stall")) < NEVER_S


def test_remote_file_reads_obey_the_deadline(quick: Egress, base: str) -> None:
    f = quick.open(f"{base}/drip")
    with f:
        assert _timed(f.read) < NEVER_S  # the open already spent part of the deadline


# --- RemoteFile -----------------------------------------------------------------------


def test_header_and_tail_of_a_large_file_with_ranges(
    server: LoopbackServer, base: str, files: dict[str, Path]
) -> None:
    data = files["sparse"].read_bytes()
    before, requests = server.connections, len(server.log)
    with Egress(LOOPBACK) as egress, egress.open(f"{base}/range/sparse") as f:
        assert f.size == SPARSE_SIZE
        assert f.content_type == "application/octet-stream"
        assert f.read(12) == data[:12]
        assert f.seek(-65536, io.SEEK_END) == SPARSE_SIZE - 65536
        assert f.read() == data[-65536:]
        assert f.bytes_fetched < 256 * 1024
    log = server.log[requests:]
    assert [headers["range"] for _, headers in log] == [
        "bytes=0-16383",
        f"bytes={SPARSE_SIZE - 65536}-{SPARSE_SIZE - 1}",
    ]
    assert all(headers["user-agent"] == "asyncml/0.1" for _, headers in log)
    assert server.connections - before == 1  # one pooled connection for both requests


def test_without_ranges_the_content_is_the_same(
    egress: Egress, base: str, files: dict[str, Path]
) -> None:
    data = files["small"].read_bytes()
    with egress.open(f"{base}/plain/small") as f:
        assert f.content_type == "audio/ogg"
        assert f.size == len(data)
        assert f.read(100) == data[:100]
        assert f.bytes_fetched < len(data)  # only as far as needed
        assert f.read() == data[100:]
        assert f.bytes_fetched == len(data)


def test_without_ranges_only_the_head_is_read(egress: Egress, base: str) -> None:
    with egress.open(f"{base}/plain/sparse") as f:
        f.read(16)
        assert f.bytes_fetched < MiB


def test_unknown_length_is_learnt_by_seeking_to_the_end(
    egress: Egress, base: str, files: dict[str, Path]
) -> None:
    data = files["small"].read_bytes()
    with egress.open(f"{base}/unsized/small") as f:
        assert f.size is None
        assert f.seek(-10, io.SEEK_END) == len(data) - 10
        assert f.size == len(data)
        assert f.read() == data[-10:]


@pytest.mark.parametrize("route", ["range", "plain", "unsized"])
def test_seek_and_read_match_a_local_file(
    egress: Egress, base: str, files: dict[str, Path], route: str
) -> None:
    size = files["small"].stat().st_size
    rng = random.Random(route)
    with (
        files["small"].open("rb", buffering=0) as local,
        egress.open(f"{base}/{route}/small") as remote,
    ):
        for _ in range(150):
            whence = rng.choice([io.SEEK_SET, io.SEEK_CUR, io.SEEK_END])
            offset = rng.randint(-size - 100, size + 100)
            try:
                expected: object = local.seek(offset, whence)
            except OSError:
                expected = OSError
            try:
                got: object = remote.seek(offset, whence)
            except OSError:
                got = OSError
            assert got == expected
            n = rng.choice([0, 1, 7, 4096, 65536, 70000, 300_000])
            assert remote.read(n) == local.read(n)
            assert remote.tell() == local.tell()
        local.seek(12345)
        remote.seek(12345)
        assert remote.read() == local.read()


def test_buffered_reader_over_a_remote_file(
    egress: Egress, base: str, files: dict[str, Path]
) -> None:
    data = files["small"].read_bytes()
    with egress.open(f"{base}/range/small") as f:
        buffered = io.BufferedReader(f)
        buffered.seek(1000)
        assert buffered.read(10) == data[1000:1010]
        assert buffered.readline() == data[1010:].split(b"\n")[0] + b"\n"


def test_empty_file(egress: Egress, base: str) -> None:
    with egress.open(f"{base}/range/empty") as f:
        assert f.size == 0
        assert f.read() == b""


def test_remote_file_http_error(egress: Egress, base: str) -> None:
    with pytest.raises(DownloadError, match="HTTP 404"):
        egress.open(f"{base}/missing")


def test_ranged_reads_obey_the_cap(base: str, files: dict[str, Path]) -> None:
    data = files["sparse"].read_bytes()
    with Egress(LOOPBACK) as egress, egress.open(f"{base}/range/sparse", max_bytes=200_000) as f:
        assert f.read(8) == data[:8]
        f.seek(-100, io.SEEK_END)
        assert f.read() == data[-100:]
        f.seek(20 * MiB)
        with pytest.raises(TooLargeError):
            f.read(MiB)
        assert f.bytes_fetched <= 200_000


def test_tiny_cap_still_opens_and_reads_within_it(base: str, files: dict[str, Path]) -> None:
    data = files["sparse"].read_bytes()
    with Egress(LOOPBACK) as egress, egress.open(f"{base}/range/sparse", max_bytes=1000) as f:
        assert f.read(10) == data[:10]
        assert f.bytes_fetched == 1000


def test_sequential_reads_grow_the_requests(
    server: LoopbackServer, base: str, files: dict[str, Path]
) -> None:
    data = files["small"].read_bytes()
    start = len(server.log)
    with Egress(LOOPBACK) as egress, egress.open(f"{base}/range/small") as f:
        assert b"".join(iter(lambda: f.read(8192), b"")) == data
    # 3 MiB in 8 KiB reads: read-ahead doubles up to 1 MiB a request, not 400 requests.
    assert len(server.log) - start < 10


def test_streamed_reads_obey_the_cap(egress: Egress, base: str) -> None:
    # Declared larger than the cap: refused before a byte of the body is read.
    with pytest.raises(TooLargeError, match="over the 1 MiB limit"):
        egress.open(f"{base}/plain/sparse", max_bytes=MiB)
    # Declared within it: only as far as reads need, and never past the cap.
    with egress.open(f"{base}/plain/sparse", max_bytes=SPARSE_SIZE) as f:
        assert len(f.read(16)) == 16
        f.seek(-16, io.SEEK_END)  # the size is declared: seeking costs nothing
        assert f.bytes_fetched < MiB


def test_endless_stream_fails_for_good(egress: Egress, base: str) -> None:
    with egress.open(f"{base}/endless", max_bytes=MiB) as f:
        with pytest.raises(TooLargeError):
            f.seek(0, io.SEEK_END)
        with pytest.raises(TooLargeError):  # never mistaken for end of file afterwards
            f.read(10 * MiB)


def test_remote_file_decodes_gzip(egress: Egress, base: str) -> None:
    with egress.open(f"{base}/gzip") as f:
        assert f.read() == GZIP_PAYLOAD


def test_remote_file_follows_checked_redirects(egress: Egress, base: str) -> None:
    with egress.open(f"{base}/redirect/2") as f:
        assert f.read() == b"done"
        assert f.url == f"{base}/redirect/0"


# --- connection reuse: draining what a header probe leaves unread ---------------------


def probe_length(egress: Egress, url: str) -> tuple[float, int]:
    """What ``audio.length`` does: open, probe the header, close; then the bytes received."""
    with egress.open(url) as remote:
        info = probe(remote)
    return info.duration, remote.bytes_fetched


def test_a_ten_minute_wav_costs_one_16_kib_request_as_the_readme_says(
    server: LoopbackServer, base: str
) -> None:
    before = server.connections
    with Egress(LOOPBACK) as egress:
        duration, fetched = probe_length(egress, f"{base}/range/ten-minutes")
    assert duration == TEN_MINUTES_S
    assert fetched == 16 * 1024
    assert server.connections == before + 1


# Draining is off unless configured; these tests turn it on at 1 MiB.
DRAINING = EgressPolicy(allow=("127.0.0.1",), drain_bytes=1024 * 1024)


@pytest.fixture
def worker(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[WorkerContext]:
    """A worker's context with draining turned on, from the environment as in production."""
    monkeypatch.chdir(tmp_path)  # no stray .env file
    monkeypatch.setenv("ASYNCML_FETCH_DRAIN_BYTES", str(1024 * 1024))
    ctx = WorkerContext(Settings(egress_allow="127.0.0.1"))
    yield ctx
    ctx.egress.close()


def length_job(ctx: WorkerContext, url: str) -> AudioLength:
    context = Context("test-job", egress=ctx.egress)
    return AudioLengthTask().run(AudioUrl.model_validate({"url": url}), context)


def test_a_short_rest_is_drained_and_the_connection_reused(
    worker: WorkerContext, server: LoopbackServer, base: str, files: dict[str, Path]
) -> None:
    before = server.connections
    for _ in range(2):
        out = length_job(worker, f"{base}/plain/clip")
        assert out.audio_length == CLIP_FRAMES / 8000
        assert out.bytes_fetched == files["clip"].stat().st_size  # the drain counts
    assert server.connections - before == 1


def test_draining_is_off_by_default(
    monkeypatch: pytest.MonkeyPatch, server: LoopbackServer, base: str, tmp_path: Path
) -> None:
    # The default follows "stop reading as soon as the answer is known".
    monkeypatch.delenv("ASYNCML_FETCH_DRAIN_BYTES", raising=False)
    monkeypatch.chdir(tmp_path)
    ctx = WorkerContext(Settings(egress_allow="127.0.0.1"))
    assert ctx.egress.policy.drain_bytes == 0
    before = server.connections
    try:
        for _ in range(2):
            out = length_job(ctx, f"{base}/plain/clip")
            assert out.audio_length == CLIP_FRAMES / 8000
            assert out.bytes_fetched <= READ_CHUNK  # one small read, as before draining
    finally:
        ctx.egress.close()
    assert server.connections - before == 2


@pytest.mark.parametrize(
    ("route", "max_bytes"),
    # (A rest that would pass the byte cap cannot happen: a body declared over the cap is
    # refused at open, test_a_remote_file_declared_over_the_cap_is_refused_at_open.)
    [("plain/long", None), ("closing/clip", None)],
    ids=["over-the-drain-cap", "connection-close"],
)
def test_a_rest_that_cannot_pay_off_is_left_unread(
    server: LoopbackServer, base: str, route: str, max_bytes: int | None
) -> None:
    before = server.connections
    with Egress(DRAINING) as egress:
        for _ in range(2):
            with egress.open(f"{base}/{route}", max_bytes=max_bytes) as remote:
                assert probe(remote).duration > 0
            assert remote.bytes_fetched <= READ_CHUNK
    assert server.connections - before == 2


def test_drain_bytes_must_not_be_negative() -> None:
    with pytest.raises(ValueError, match="drain_bytes"):
        EgressPolicy(drain_bytes=-1)


def test_a_stalled_rest_is_given_up_within_the_drain_budget(
    worker: WorkerContext, server: LoopbackServer, base: str
) -> None:
    before = server.connections
    start = time.monotonic()
    out = length_job(worker, f"{base}/stall-midway/clip")
    elapsed = time.monotonic() - start
    assert out.audio_length == CLIP_FRAMES / 8000
    assert out.bytes_fetched == STALL_AFTER  # all that came before the stall
    # It waited for the rest (the drain budget) and then gave up, rather than wait for the
    # server (30 s) or the job's deadline.
    assert DRAIN_SECONDS <= elapsed < NEVER_S
    assert length_job(worker, f"{base}/plain/clip").audio_length == CLIP_FRAMES / 8000
    assert server.connections - before == 2  # the stalled connection went, not to the pool


def test_a_pooled_connection_serves_only_its_own_host_and_port(server: LoopbackServer) -> None:
    dns = FakeDNS({"a.test": ["127.0.0.1"], "b.test": ["127.0.0.1"]})
    before = server.connections
    with Egress(DRAINING, resolver=dns) as egress:
        for host in ("a.test", "a.test", "b.test", "a.test"):
            probe_length(egress, f"http://{host}:{port_of(server)}/plain/clip")
        assert server.connections - before == 2
        # Every request is checked first: a pooled connection is no way around the policy.
        dns.table["a.test"] = ["10.0.0.1"]
        with pytest.raises(DestinationNotAllowedError):
            probe_length(egress, f"http://a.test:{port_of(server)}/plain/clip")
    assert server.connections - before == 2


def test_a_long_webhook_answer_is_drained_too(server: LoopbackServer, base: str) -> None:
    before = server.connections
    with Egress(DRAINING) as egress:
        for _ in range(2):
            reply = egress.post(f"{base}/hook", b"{}", {"Content-Type": "application/json"})
            assert reply.text == ("ok " * 2000)[:1024]
    assert server.connections - before == 1


# --- https ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    openssl = require_tool("openssl", "apt-get install openssl; it makes a test certificate")
    root = tmp_path_factory.mktemp("tls")
    cert, key = root / "cert.pem", root / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2",
         "-subj", "/CN=files.test", "-addext", "subjectAltName=DNS:files.test"],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


@pytest.fixture(scope="module")
def tls_server(
    files: dict[str, Path], tls_files: tuple[Path, Path]
) -> Iterator[tuple[LoopbackServer, list[str]]]:
    cert, key = tls_files
    names: list[str] = []
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    context.sni_callback = lambda sock, name, ctx: names.append(str(name))
    instance = LoopbackServer(("127.0.0.1", 0), files)
    instance.socket = context.wrap_socket(instance.socket, server_side=True)
    for running in _serve(instance):
        yield running, names


@pytest.mark.parametrize("injected", [False, True])
def test_https_keeps_the_host_name_for_sni_and_certificate(
    tls_server: tuple[LoopbackServer, list[str]], tls_files: tuple[Path, Path], injected: bool
) -> None:
    server, names = tls_server
    trust = ssl.create_default_context(cafile=str(tls_files[0]))
    transport = httpx.HTTPTransport(verify=trust) if injected else None
    dns = FakeDNS({"files.test": ["127.0.0.1"]})
    policy = EgressPolicy(allow=("files.test",))
    with Egress(policy, resolver=dns, transport=transport, ssl_context=trust) as egress:
        headers = json.loads(egress.fetch(f"https://files.test:{port_of(server)}/echo"))
    assert headers["host"] == f"files.test:{port_of(server)}"
    assert names[-1] == "files.test"


def test_https_certificate_must_match_the_host_name(
    tls_server: tuple[LoopbackServer, list[str]], tls_files: tuple[Path, Path]
) -> None:
    server, _ = tls_server
    trust = ssl.create_default_context(cafile=str(tls_files[0]))
    dns = FakeDNS({"other.test": ["127.0.0.1"]})
    with (
        Egress(EgressPolicy(allow=("other.test",)), resolver=dns, ssl_context=trust) as egress,
        pytest.raises(DownloadError, match=r"could not connect to other\.test.*certificate"),
    ):
        egress.fetch(f"https://other.test:{port_of(server)}/echo")


def test_environment_proxies_are_ignored(monkeypatch: pytest.MonkeyPatch, base: str) -> None:
    # Port 9 (discard) answers nothing: the fetch succeeds only if the proxy is ignored.
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("ALL_PROXY", "http://127.0.0.1:9")
    with Egress(LOOPBACK) as egress:
        assert egress.fetch(f"{base}/redirect/0") == b"done"
