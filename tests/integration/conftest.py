"""Fixtures for integration tests: a file server with real audio, and asyncml deployments
in each layout (embedded Valkey; RabbitMQ broker + Redis store; Redis broker + store)."""

from __future__ import annotations

import datetime as dt
import io
import shutil
import subprocess
import wave
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import numpy as np
import pytest
import redis
import soundfile as sf
from kombu import Connection
from mutagen.mp3._util import XingHeader

from asyncml.embedded import EmbeddedServer
from asyncml.models.euro import DrawResult, render_results_page
from asyncml.plugins import discover
from asyncml.settings import Settings
from asyncml.worker.queues import all_queues
from tests import audio_fixtures as fx
from tests.conftest import BROKER_DB, RABBIT_VHOST, STORE_DB, require_service
from tests.integration.fileserver import FileServer
from tests.integration.stack import Stack

REDIS_URL = "redis://127.0.0.1:6379"
AMQP_URL = f"amqp://guest:guest@127.0.0.1:5672/{quote(RABBIT_VHOST, safe='')}"
KNOWN_DRAW = DrawResult(dt.date(2024, 1, 5), (7, 12, 23, 34, 45), (3, 11))


def _write_wav(path: Path, frames: int, rate: int, channels: int) -> None:
    rng = np.random.default_rng(frames)
    samples = (rng.standard_normal((frames, channels)) * 3000).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(samples.tobytes())


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, float]:
    """Audio files with their exact lengths (computed from what was written)."""
    root = tmp_path_factory.getbasetemp() / "www"
    root.mkdir()
    lengths: dict[str, float] = {}
    for name, frames, rate, channels in [
        ("short.wav", 8000 * 3 + 17, 8000, 1),
        ("stereo.wav", 44100 * 2 + 5, 44100, 2),
    ]:
        _write_wav(root / name, frames, rate, channels)
        lengths[name] = frames / rate
    tone = (np.sin(np.arange(22050 * 3) / 10) * 0.3).astype("float32")
    sf.write(root / "tone.flac", tone, 22050, format="FLAC")
    lengths["tone.flac"] = sf.info(str(root / "tone.flac")).frames / 22050
    sf.write(root / "tone.ogg", tone, 22050, format="OGG", subtype="VORBIS")
    lengths["tone.ogg"] = sf.info(str(root / "tone.ogg")).frames / 22050
    # VBR MP3 with its LAME tag (exact, gapless) and the same stream without its Xing frame,
    # where only a walk over every frame gives the length (frames x 1152 / rate).
    mp3_frames = fx.make_mp3(root / "vbr.mp3", 4.0, 44100, 2, vbr=True)
    lengths["vbr.mp3"] = mp3_frames / 44100
    body = (root / "vbr.mp3").read_bytes()
    offset = max(body.find(b"Xing", 0, 64), body.find(b"Info", 0, 64))
    mpeg_frames = int(XingHeader(io.BytesIO(body[offset:])).frames)
    (root / "vbr-noxing.mp3").write_bytes(fx.strip_xing(body))
    lengths["vbr-noxing.mp3"] = mpeg_frames * 1152 / 44100
    (root / "page.html").write_text("<!DOCTYPE html><html><body>not audio</body></html>")
    (root / "euro").mkdir()
    html = render_results_page(KNOWN_DRAW)
    (root / "euro" / f"{KNOWN_DRAW.draw_date:%d-%m-%Y}.html").write_text(html)
    (root / "euro" / "09-01-2024.html").write_text("<html><body>redesigned!</body></html>")
    return lengths


@pytest.fixture(scope="session")
def files(
    corpus: dict[str, float], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[FileServer]:
    server = FileServer(tmp_path_factory.getbasetemp() / "www").start()
    yield server
    server.stop()


def _purge_rabbit() -> None:
    if RABBIT_VHOST != "/":
        subprocess.run(["rabbitmqctl", "add_vhost", RABBIT_VHOST], capture_output=True, check=False)
        subprocess.run(
            ["rabbitmqctl", "set_permissions", "-p", RABBIT_VHOST, "guest", ".*", ".*", ".*"],
            capture_output=True,
            check=True,
        )
    with Connection(AMQP_URL, connect_timeout=5) as conn:
        channel = conn.default_channel
        for queue in all_queues(discover()):
            try:
                channel.queue_purge(queue)
            except Exception:  # queue not declared yet
                channel = conn.channel()


def base_env(files: FileServer) -> dict[str, str]:
    return {
        "ASYNCML_EGRESS_ALLOW": "127.0.0.1",
        "ASYNCML_EURO_BASE_URL": f"{files.base_url}/euro/",
        "ASYNCML_TASK_SOFT_TIME_LIMIT_S": "8",
        "ASYNCML_TASK_TIME_LIMIT_S": "10",
        "ASYNCML_VISIBILITY_TIMEOUT_S": "12",
        "ASYNCML_FETCH_TIMEOUT_S": "6",
        "ASYNCML_LOG_LEVEL": "INFO",
        # A failed download fails its job at once, as these tests expect; retries of
        # transient failures (on by default) are tested in test_runtime.py.
        "ASYNCML_RETRY_TRANSIENT": "false",
    }


LAYOUTS = ["embedded", "rabbitmq", "redis"]


def layout_env(layout: str, files: FileServer, tmp: Path) -> dict[str, str]:
    env = base_env(files) | {"ASYNCML_DATA_DIR": str(tmp / "data")}
    if layout == "embedded":
        return env | {"ASYNCML_BROKER_URL": "", "ASYNCML_STORE_URL": ""}
    require_service("Redis", "127.0.0.1", 6379)
    for db in (STORE_DB, BROKER_DB):
        redis.Redis.from_url(f"{REDIS_URL}/{db}").flushdb()
    env["ASYNCML_STORE_URL"] = f"{REDIS_URL}/{STORE_DB}"
    if layout == "rabbitmq":
        require_service("RabbitMQ", "127.0.0.1", 5672)
        _purge_rabbit()
        env["ASYNCML_BROKER_URL"] = AMQP_URL
    else:
        env["ASYNCML_BROKER_URL"] = f"{REDIS_URL}/{BROKER_DB}"
    return env


def start_stack(
    layout: str,
    files: FileServer,
    tmp: Path,
    workers: int = 1,
    env: dict[str, str] | None = None,
) -> Stack:
    env = layout_env(layout, files, tmp) | (env or {})
    stack = Stack(layout, env, tmp)
    try:
        for _ in range(workers):
            stack.start_worker()
        stack.start_api()
        if workers:
            stack.wait_tasks()
    except BaseException:
        # A stack that failed to start must not outlive the test: its workers would take
        # the next tests' jobs from the same queues.
        stop_stack(stack, tmp)
        raise
    return stack


def stop_stack(stack: Stack, tmp: Path) -> None:
    stack.stop()
    if stack.name == "embedded":
        settings = Settings(data_dir=tmp / "data", broker_url=None, store_url=None)
        EmbeddedServer(settings.data_dir, settings.socket_path).stop()
        shutil.rmtree(tmp / "data", ignore_errors=True)


@pytest.fixture(scope="module", params=LAYOUTS)
def stack(
    request: pytest.FixtureRequest, files: FileServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp(f"stack-{request.param}")
    deployment = start_stack(request.param, files, tmp)
    yield deployment
    stop_stack(deployment, tmp)
