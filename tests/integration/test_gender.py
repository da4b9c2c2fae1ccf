"""audio.gender through a real API and worker: speech gets a gender, a tone and silence get
none, and the original contract's ``POST /audio/gender`` works. One layout (Redis broker and
store) is enough here: the other layouts are the same code path, tested in test_jobs.py."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tests.integration.conftest import start_stack, stop_stack
from tests.integration.fileserver import FileServer
from tests.integration.stack import Stack

pytestmark = pytest.mark.integration

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "gender"


@pytest.fixture(scope="module")
def gender_files(files: FileServer, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Expected gender (or None) of each file served under /gender/ (``files`` serves the
    session's ``www`` folder)."""
    root = tmp_path_factory.getbasetemp() / "www" / "gender"
    root.mkdir(exist_ok=True)
    expected: dict[str, str] = {}
    for entry in json.loads((FIXTURES / "expected.json").read_text()):
        if entry["source"] == "synthetic":
            shutil.copy(FIXTURES / entry["file"], root / entry["file"])
            expected[entry["file"]] = entry["gender"]
    t = np.arange(16000 * 3) / 16000
    sf.write(root / "tone.wav", 0.3 * np.sin(2 * np.pi * 200 * t), 16000)
    sf.write(root / "silence.wav", np.zeros(16000 * 3), 16000)
    return expected


@pytest.fixture(scope="module")
def gender_stack(files: FileServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("stack-gender")
    deployment = start_stack("redis", files, tmp)
    yield deployment
    stop_stack(deployment, tmp)


def test_gender_jobs_through_a_worker(
    gender_stack: Stack, files: FileServer, gender_files: dict[str, str]
) -> None:
    # Submitted together, so the worker's processes load the model while jobs queue.
    names = [*gender_files, "tone.wav", "silence.wav"]
    ids = {
        name: gender_stack.submit(
            "audio.gender", {"url": f"{files.base_url}/gender/{name}"}
        ).json()["id"]
        for name in names
    }
    for name, job_id in ids.items():
        job = gender_stack.wait_job(job_id, timeout=60)
        assert job["status"] == "succeeded", job
        result = job["result"]
        if name in gender_files:
            assert result["gender"] == gender_files[name], (name, result)
            assert 0.5 <= result["confidence"] <= 1
            assert result["speech_seconds"] > 1 and result["median_f0_hz"] > 60
        else:
            assert result["gender"] is None and result["confidence"] is None, (name, result)
            assert result["reason"] in ("no_speech", "no_voiced_speech", "not_speech_like")


def test_gender_original_contract_and_errors(
    gender_stack: Stack, files: FileServer, gender_files: dict[str, str]
) -> None:
    response = gender_stack.client.post(
        "/audio/gender", json={"audio_url": f"{files.base_url}/gender/tone.wav"}
    )
    assert response.status_code == 201 and set(response.json()) == {"id"}
    task_id = response.json()["id"]
    gender_stack.wait_job(task_id, timeout=60)
    body = gender_stack.client.get(f"/task/{task_id}").json()
    assert body["status"] == "SUCCESS" and body["result"]["gender"] is None
    page = gender_stack.submit("audio.gender", {"url": f"{files.base_url}/page.html"}).json()
    assert gender_stack.wait_job(page["id"], timeout=60)["error"]["code"] == "unsupported_media"
    tasks = {t["name"]: t for t in gender_stack.client.get("/v1/tasks").json()}
    assert tasks["audio.gender"]["queue"] == "audio"
    assert "gender" in tasks["audio.gender"]["output_schema"]["properties"]
