"""Local files as job inputs: uploads (``POST /v1/files``) and data: URIs, against a real
API, worker and store (embedded layout), through the CLI, the SDK and plain HTTP."""

from __future__ import annotations

import base64
import io
import json
import os
import uuid
import wave
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from asyncml.cli import main
from asyncml.client import Client
from tests.integration.conftest import _write_wav, start_stack, stop_stack
from tests.integration.fileserver import FileServer
from tests.integration.stack import Stack

pytestmark = pytest.mark.integration

UPLOAD_MAX = 6_000_000
DATA_URI_MAX = 4096


@pytest.fixture(scope="module")
def api(files: FileServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("files-stack")
    env = {
        "ASYNCML_UPLOAD_MAX_BYTES": str(UPLOAD_MAX),
        "ASYNCML_DATA_URI_MAX_BYTES": str(DATA_URI_MAX),
    }
    deployment = start_stack("embedded", files, tmp, env=env)
    yield deployment
    stop_stack(deployment, tmp)


def _wav_bytes(frames: int, rate: int) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(bytes(2 * frames))
    return out.getvalue()


def test_a_5_mb_local_wav_through_asyncml_run(
    api: Stack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    frames, rate = 2_600_017, 44100
    _write_wav(tmp_path / "x.wav", frames, rate, 1)
    assert (tmp_path / "x.wav").stat().st_size > 5_000_000
    monkeypatch.chdir(tmp_path)
    args = ["run", "audio.length", "./x.wav", "--json", "--url", api.url]
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    line = json.loads(result.stdout.splitlines()[0])
    assert line["status"] == "succeeded", line
    assert line["result"]["audio_length"] == frames / rate  # exact, from the header
    assert line["result"]["bytes_fetched"] < 1_000_000  # read in blocks, not whole
    job = api.client.get(f"/v1/jobs/{line['id']}").json()
    assert job["input"]["url"].startswith("asyncml://files/")
    missing = CliRunner().invoke(main, ["run", "audio.length", "./y.wav", "--url", api.url])
    assert missing.exit_code == 2 and "./y.wav: no such file" in missing.output


def test_uploads_over_the_cap_are_413(api: Stack) -> None:
    body = os.urandom(UPLOAD_MAX + 1)
    announced = api.client.post("/v1/files", content=body)  # Content-Length says it
    assert announced.status_code == 413, announced.text
    assert announced.json()["error"]["code"] == "too_large"
    assert "ASYNCML_UPLOAD_MAX_BYTES" in announced.json()["error"]["message"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it streams
        for start in range(0, len(body), 65536):
            yield body[start : start + 65536]

    streamed = api.client.post("/v1/files", content=chunks())
    assert streamed.status_code == 413, streamed.text
    just_fits = api.client.post("/v1/files?name=blob.bin", content=body[:UPLOAD_MAX])
    assert just_fits.status_code == 201, just_fits.text
    info = just_fits.json()
    assert info["size"] == UPLOAD_MAX and info["name"] == "blob.bin"
    assert api.client.get(f"/v1/files/{info['id']}").json()["size"] == UPLOAD_MAX


def test_the_sdk_uploads_paths_in_an_input(api: Stack, tmp_path: Path) -> None:
    (tmp_path / "a.wav").write_bytes(_wav_bytes(8000 * 3, 8000))
    with Client(api.url) as client:
        job = client.submit("audio.length", {"url": tmp_path / "a.wav"}, priority=5)
        assert job.result(timeout=30)["audio_length"] == 3.0
        assert job.info.priority == 5
        ref = client.upload(_wav_bytes(4000, 8000), name="b.wav")
    assert ref.url == f"asyncml://files/{ref.id}" and ref.name == "b.wav"
    assert ref.content_type == "application/octet-stream"


def test_data_uris_up_to_the_cap(api: Stack) -> None:
    small = "data:audio/wav;base64," + base64.b64encode(_wav_bytes(800, 8000)).decode()
    assert len(small) < DATA_URI_MAX
    accepted = api.submit("audio.length", {"url": small})
    assert accepted.status_code == 202, accepted.text
    assert api.wait_job(accepted.json()["id"])["result"]["audio_length"] == 0.1
    large = "data:audio/wav;base64," + base64.b64encode(_wav_bytes(4000, 8000)).decode()
    refused = api.submit("audio.length", {"url": large})
    assert refused.status_code == 422, refused.text
    message = refused.json()["error"]["message"]
    assert message.startswith("input.url: a data: URI of") and "POST /v1/files" in message
    broken = api.submit("audio.length", {"url": "data:audio/wav;base64,@@@"})
    assert broken.status_code == 422 and "not base64" in broken.text


def test_unknown_files_are_refused(api: Stack) -> None:
    missing = f"asyncml://files/{uuid.uuid4().hex}"
    refused = api.submit("audio.length", {"url": missing})
    assert refused.status_code == 422, refused.text
    assert "no uploaded file" in refused.json()["error"]["message"]
    assert api.client.get(f"/v1/files/{uuid.uuid4().hex}").status_code == 404
    assert api.client.post("/v1/files", content=b"").status_code == 422
