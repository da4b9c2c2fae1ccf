"""Schemathesis against the live OpenAPI schema of a real API and worker (Redis + Redis).

Every phase runs: the schema's examples, coverage (boundary and invalid values, missing
headers, wrong methods), fuzzing, and stateful sequences that follow the schema's links
from ``POST /v1/jobs`` (and the original ``POST /audio/...``) to reading, cancelling,
streaming and redelivering the job. Every check runs (see schemathesis.toml for the few
exceptions, each explained): no server error at all (the stack is healthy, so even a 503
would be a bug hidden as an outage), every status, content type, header and body as
documented, invalid data refused, Allow on 405, no use after a cancel, and authentication
enforced (the stack runs with an API key).

Deterministic generation (no random seed, no example database) keeps CI reproducible; the
number of cases per operation is bounded so the run takes a few seconds.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import start_stack, stop_stack
from tests.integration.fileserver import FileServer
from tests.integration.stack import Stack

API_KEY = "fuzz-key-0123456789abcdef"
MAX_EXAMPLES = 25
CONFIG = Path(__file__).with_name("schemathesis.toml")
# Keep every request short: a long-poll or an event stream on a job that is still running
# must not outlast the fuzzer's request timeout.
FAST = {
    "ASYNCML_API_KEYS": f"fuzz:{API_KEY}",
    "ASYNCML_LONG_POLL_MAX_S": "1",
    "ASYNCML_FETCH_TIMEOUT_S": "2",
    "ASYNCML_TASK_SOFT_TIME_LIMIT_S": "3",
    "ASYNCML_TASK_TIME_LIMIT_S": "4",
    "ASYNCML_VISIBILITY_TIMEOUT_S": "6",
}


@pytest.fixture(scope="module")
def fuzz_stack(files: FileServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("stack-fuzz")
    deployment = start_stack("redis", files, tmp, env=FAST)
    yield deployment
    stop_stack(deployment, tmp)


def schemathesis(stack: Stack, report: Path) -> subprocess.CompletedProcess[str]:
    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "--config-file",
        str(CONFIG),
        "run",
        f"{stack.url}/openapi.json",
        "--header",
        f"Authorization: Bearer {API_KEY}",
        "--phases",
        "examples,coverage,fuzzing,stateful",
        "--max-examples",
        str(MAX_EXAMPLES),
        "--generation-deterministic",
        "--workers",
        "1",
        "--request-timeout",
        "15",
        "--no-color",
        "--report",
        "junit",
        "--report-junit-path",
        str(report),
    ]
    # Run where its cache directory (.schemathesis/) is thrown away afterwards.
    return subprocess.run(
        command, capture_output=True, text=True, timeout=100, check=False, cwd=report.parent
    )


def test_schema_fuzzing_finds_no_server_error_or_contract_violation(
    fuzz_stack: Stack, tmp_path: Path
) -> None:
    run = schemathesis(fuzz_stack, tmp_path / "junit.xml")
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-20000:]
    # Proof that it tested something: every phase ran, and the stateful one followed links.
    for phase in ("Examples", "Coverage", "Fuzzing", "Stateful"):
        assert phase in output, output
    assert "API Links:" in output, output
    assert " generated" in output, output
