"""Shared test helpers: services on this machine are required in CI, optional elsewhere."""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import sys
from pathlib import Path

import pytest

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}

# Several test runs may share this machine's Redis and RabbitMQ: ASYNCML_TEST_SLOT=N (0-4)
# gives a run its own Redis databases and RabbitMQ virtual host. Under `pytest -n K`
# (pytest-xdist) worker gwI takes slot N + I, so the workers never share a queue.
_XDIST_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
TEST_SLOT = int(os.environ.get("ASYNCML_TEST_SLOT", "0")) + (
    int(_XDIST_WORKER.removeprefix("gw")) if _XDIST_WORKER else 0
)
if _XDIST_WORKER:
    # execnet gives its workers COLUMNS=80 and LINES=24; without them the CLI's tables are as
    # wide as in a serial run (piped output: 120 columns).
    os.environ.pop("COLUMNS", None)
    os.environ.pop("LINES", None)
if not 0 <= TEST_SLOT <= 4:
    raise RuntimeError(
        "ASYNCML_TEST_SLOT (plus the pytest-xdist worker number) must be between 0 and 4"
    )
_BASE_DB = 15 - 3 * TEST_SLOT
BROKER_DB, STORE_DB, UNIT_DB = _BASE_DB, _BASE_DB - 1, _BASE_DB - 2
RABBIT_VHOST = "/" if TEST_SLOT == 0 else f"asyncml-test-{TEST_SLOT}"


def service_up(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def require_service(name: str, host: str, port: int) -> None:
    """A missing service fails the run in CI and skips the test on a laptop."""
    if service_up(host, port):
        return
    message = f"{name} is not reachable on {host}:{port}"
    if IN_CI:
        pytest.fail(message + " (required when CI=true)")
    pytest.skip(message)


def missing(message: str) -> None:
    """Something a test needs is not on this machine: a failure in CI, where ``.ci/run``
    installs it (the message says how), and a skip with that reason elsewhere."""
    if IN_CI:
        pytest.fail(f"{message}; required when CI=true (.ci/run installs it)")
    pytest.skip(message)


def require_tool(name: str, install: str) -> str:
    """The path of command ``name``, on PATH or beside this Python (a tool installed from a
    wheel into the virtual environment); ``missing`` otherwise."""
    found = shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))
    if found is None:
        missing(f"{name} is not installed ({install})")
    assert found is not None
    return found


def require_module(name: str, install: str) -> None:
    if importlib.util.find_spec(name) is None:
        missing(f"the {name} package is not installed ({install})")
