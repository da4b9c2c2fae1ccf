"""Log lines carry the job id of their context, as text or as one JSON object per line."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from asyncml import logs

Capture = tuple[logging.Logger, io.StringIO, logging.Handler]


@pytest.fixture
def capture() -> Iterator[Capture]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(logs.JobIdFilter())
    logger = logging.getLogger(f"asyncml.test.{id(stream)}")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    yield logger, stream, handler
    logger.removeHandler(handler)


def test_json_lines_carry_the_job_id_only_inside_its_context(capture: Capture) -> None:
    logger, stream, handler = capture
    handler.setFormatter(logs.JsonFormatter())
    logger.info("before")
    with logs.job_context("job-1"):
        logger.info("fetching %s", "http://a/b.wav", extra={"bytes": 42})
        try:
            raise ValueError("boom")
        except ValueError:
            logger.exception("failed")
    logger.info("after")
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [line.get("job_id") for line in lines] == [None, "job-1", "job-1", None]
    assert lines[1]["message"] == "fetching http://a/b.wav"
    assert lines[1]["bytes"] == 42
    assert lines[1]["level"] == "INFO" and lines[1]["logger"] == logger.name
    assert lines[1]["ts"].endswith("+00:00")
    assert "ValueError: boom" in lines[2]["exc"]


def test_text_lines_name_the_job_unless_the_message_does(capture: Capture) -> None:
    logger, stream, handler = capture
    handler.setFormatter(logs.TextFormatter())
    logs.bind_job("job-2")
    try:
        logger.info("job job-2: queued")
        logger.info("GET http://a/b.wav")
    finally:
        logs.bind_job(None)
    logger.info("idle")
    first, second, third = stream.getvalue().splitlines()
    assert first.endswith("job job-2: queued")
    assert second.endswith("GET http://a/b.wav [job job-2]")
    assert "[job" not in third


def test_configure_switches_every_logger_to_json(capsys: pytest.CaptureFixture[str]) -> None:
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    try:
        logs.configure("DEBUG", "json")
        with logs.job_context("job-3"):
            logging.getLogger("celery.worker").warning("hello")
        entry = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
        assert entry["job_id"] == "job-3" and entry["logger"] == "celery.worker"
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
