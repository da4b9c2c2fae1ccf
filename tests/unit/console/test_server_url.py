"""The client commands find the server a local ``asyncml up`` started: ASYNCML_URL, else the
address that ASYNCML_HOST and ASYNCML_PORT describe."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from click.testing import CliRunner

from asyncml.cli import main
from asyncml.console.common import UNREACHABLE
from tests.integration.stack import free_port

NO_CLIENT_ENV = {"ASYNCML_URL": None, "ASYNCML_HOST": None, "ASYNCML_PORT": None}


class NoTasks(BaseHTTPRequestHandler):
    """A real HTTP server answering GET /v1/tasks with an empty list."""

    def do_GET(self) -> None:
        body = json.dumps([] if self.path == "/v1/tasks" else {}).encode()
        self.send_response(200 if self.path == "/v1/tasks" else 404)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def api_port() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), NoTasks)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield int(server.server_address[1])
    server.shutdown()
    server.server_close()


def _tasks(**env: str | None) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["tasks", "--json"], env=NO_CLIENT_ENV | env)
    return result.exit_code, result.output


def test_the_port_a_local_server_uses_is_where_the_client_looks(api_port: int) -> None:
    assert _tasks(ASYNCML_PORT=str(api_port)) == (0, "[]\n")
    # A server listening everywhere is reached on loopback.
    assert _tasks(ASYNCML_HOST="0.0.0.0", ASYNCML_PORT=str(api_port)) == (0, "[]\n")


def test_asyncml_url_wins(api_port: int) -> None:
    url = f"http://127.0.0.1:{api_port}"
    assert _tasks(ASYNCML_URL=url, ASYNCML_PORT=str(free_port())) == (0, "[]\n")


def test_an_unreachable_api_says_how_to_point_the_client_elsewhere() -> None:
    port = free_port()
    code, output = _tasks(ASYNCML_PORT=str(port))
    assert code == UNREACHABLE
    assert f"http://127.0.0.1:{port}" in output
    assert "--url" in output and "ASYNCML_URL" in output
