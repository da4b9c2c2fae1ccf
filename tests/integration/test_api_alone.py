"""``asyncml api`` started alone in the embedded layout, as a person trying it would: what
it logs, what a browser finds, and what it leaves behind when it exits."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from asyncml.embedded import EmbeddedServer
from asyncml.settings import Settings
from tests.integration.stack import free_port, wait_for

pytestmark = pytest.mark.integration


class Api:
    def __init__(self, tmp: Path, **env: str) -> None:
        self.data = tmp / "data"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tmp / f"api-{self.port}.log"
        self.env = os.environ | {
            "ASYNCML_DATA_DIR": str(self.data),
            "ASYNCML_BROKER_URL": "",
            "ASYNCML_STORE_URL": "",
            "ASYNCML_PORT": str(self.port),
            "ASYNCML_LOG_LEVEL": "INFO",
            **env,
        }
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "asyncml", "api"],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        wait_for(self._ready, 30, "the API to answer", every=0.1)

    def _ready(self) -> bool:
        assert self.proc.poll() is None, self.log.read_text()
        try:
            return httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    @property
    def server(self) -> EmbeddedServer:
        settings = Settings(data_dir=self.data, broker_url=None, store_url=None)
        return EmbeddedServer(settings.data_dir, settings.socket_path)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(30)


@pytest.fixture
def start(tmp_path: Path) -> Iterator[type[Api]]:
    started: list[Api] = []

    class Started(Api):
        def __init__(self, **env: str) -> None:
            super().__init__(tmp_path, **env)
            started.append(self)

    yield Started
    for api in started:
        if api.proc.poll() is None:
            api.proc.kill()
            api.proc.wait()
        api.server.stop()


def test_every_request_is_in_the_access_log_unless_turned_off(start: type[Api]) -> None:
    api = start()
    assert httpx.get(f"{api.url}/v1/tasks").status_code == 200
    line = '"GET /v1/tasks HTTP/1.1" 200'
    wait_for(lambda: line in api.log.read_text(), 10, "the access log line")
    assert "uvicorn.access" in next(x for x in api.log.read_text().splitlines() if line in x)
    api.stop()

    quiet = start(ASYNCML_ACCESS_LOG="false")
    assert httpx.get(f"{quiet.url}/v1/tasks").status_code == 200
    quiet.stop()  # its log is complete once it has exited
    assert "/v1/tasks" not in quiet.log.read_text()


def test_docs_work_offline_and_the_root_leads_there(start: type[Api]) -> None:
    api = start()
    root = httpx.get(f"{api.url}/")
    assert root.status_code == 307 and root.headers["location"] == "/docs"
    page = httpx.get(f"{api.url}/", follow_redirects=True)
    assert page.status_code == 200 and "swagger-ui" in page.text
    # Nothing loaded from another host: every URL in the page is this API's own.
    urls = re.findall(r"""(?:src|href|url)\s*[=:]\s*['"]([^'"]+)['"]""", page.text)
    assert urls and all(u.startswith("/") for u in urls), urls
    assert "://" not in page.text.replace(api.url, "")
    for url in urls:
        asset = httpx.get(f"{api.url}{url}")
        assert asset.status_code == 200, url
    bundle = httpx.get(f"{api.url}/docs/assets/swagger-ui-bundle.js")
    assert "javascript" in bundle.headers["content-type"] and len(bundle.content) > 500_000


def test_an_api_started_alone_leaves_no_valkey_behind(start: type[Api]) -> None:
    api = start()
    pid = api.server.pid()
    assert pid is not None and api.server.responds()
    api.stop()
    assert not api.server.responds()
    assert not Path(f"/proc/{pid}").exists()


def test_the_last_of_an_api_and_a_worker_stops_the_valkey_they_share(
    start: type[Api],
) -> None:
    api = start()
    with open(api.log.with_suffix(".worker.log"), "ab") as log:
        worker = subprocess.Popen(
            [sys.executable, "-m", "asyncml", "worker", "--queues", "euro", "-c", "1"],
            env=api.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        users = api.server.users_dir
        wait_for(lambda: (users / str(worker.pid)).exists(), 30, "the worker to attach")
        api.stop()
        assert api.server.responds()  # the worker still uses it
        worker.send_signal(signal.SIGTERM)
        worker.wait(30)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    assert not api.server.responds()


def test_behind_a_proxy_the_docs_use_its_path_prefix(start: type[Api]) -> None:
    api = start(ASYNCML_ROOT_PATH="/asyncml")
    # A proxy strips the prefix and forwards; links in the page keep it.
    page = httpx.get(f"{api.url}/docs")
    assert "/asyncml/docs/assets/swagger-ui-bundle.js" in page.text
    assert "/asyncml/openapi.json" in page.text
    assert httpx.get(f"{api.url}/").headers["location"] == "/asyncml/docs"
