"""The example outside the package (examples/langid), installed with pip into a fresh
environment, is served by an unchanged asyncml: ``asyncml up`` finds it through its entry
point, and its own tests pass there."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.integration.stack import free_port, wait_for
from tests.integration.venvs import clean_env, overlay_venv

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def _run(args: list[str], env: dict[str, str], cwd: Path) -> str:
    done = subprocess.run(args, env=env, cwd=cwd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"{args}: {done.stdout[-2000:]}{done.stderr[-2000:]}"
    return done.stdout


def test_asyncml_up_serves_the_installed_example(tmp_path: Path) -> None:
    bin_dir = overlay_venv(tmp_path / "venv")
    env = clean_env(bin_dir, tmp_path, ASYNCML_LOG_LEVEL="WARNING")
    _run(["pip", "install", "--no-deps", str(ROOT / "examples" / "langid")], env, tmp_path)
    tests = ROOT / "examples" / "langid" / "tests"
    assert "passed" in _run(["pytest", "-q", "-p", "no:cacheprovider", str(tests)], env, tmp_path)
    port = free_port()
    with (tmp_path / "up.log").open("wb") as log:
        up = subprocess.Popen(
            ["asyncml", "up", "--port", str(port), "--concurrency", "1"],
            env=env,
            cwd=tmp_path,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)
    try:

        def served() -> bool:
            if up.poll() is not None:
                raise AssertionError((tmp_path / "up.log").read_text()[-3000:])
            try:
                tasks = {t["name"]: t for t in client.get("/v1/tasks").json()}
            except (httpx.HTTPError, ValueError):
                return False
            return tasks.get("text.language", {}).get("workers", 0) > 0

        wait_for(served, 120, "asyncml up to serve text.language", every=0.5)
        text = "Le train pour la côte part chaque matin à sept heures."
        created = client.post("/v1/jobs", json={"task": "text.language", "input": {"text": text}})
        assert created.status_code == 202, created.text
        job = client.get(f"/v1/jobs/{created.json()['id']}", params={"wait": 30}).json()
        assert job["status"] == "succeeded", job
        assert job["result"]["language"] == "fr" and job["result"]["confidence"] > 0.9
        refused = client.post("/v1/jobs", json={"task": "text.language", "input": {"text": ""}})
        assert refused.status_code == 422
    finally:
        client.close()
        os.killpg(up.pid, signal.SIGTERM)
        up.wait(90)
