"""Uploaded files and data: URIs: stored by the API's file store in a real Redis, read back
by a worker's egress client (``ctx.open``/``ctx.fetch``) without any network."""

from __future__ import annotations

import asyncio
import base64
import io
from collections.abc import AsyncIterator

import pytest
import redis
import redis.asyncio as aredis

from asyncml import sources
from asyncml.errors import DownloadError, JobError, TooLargeError
from asyncml.net import Egress, EgressPolicy
from asyncml.net.local import BLOCK
from asyncml.store import files
from asyncml.store.files import AsyncFileStore, EmptyUploadError, UploadTooLargeError
from tests.unit.conftest import URL


async def _chunks(data: bytes, size: int = 100_000) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def _store(coro_factory):  # type: ignore[no-untyped-def]
    async def go():  # type: ignore[no-untyped-def]
        client = aredis.Redis.from_url(URL)
        try:
            return await coro_factory(AsyncFileStore(client, retention_s=3600))
        finally:
            await client.aclose()

    return asyncio.run(go())


def test_an_upload_is_read_back_in_blocks(store: object) -> None:
    data = bytes(range(256)) * 4000  # about 1 MB
    meta = _store(
        lambda s: s.write("alice", _chunks(data), max_bytes=2_000_000, content_type="x/y", name="n")
    )
    assert (meta.size, meta.owner, meta.content_type, meta.name) == (len(data), "alice", "x/y", "n")
    assert _store(lambda s: s.get(meta.id, "bob")) is None  # another key's file
    assert _store(lambda s: s.keep(meta.id, "alice")) is not None
    client = redis.Redis.from_url(URL)
    assert not client.exists(files.partial_key(meta.id))
    assert 3500 < client.ttl(files.data_key(meta.id)) <= 3600
    egress = Egress(EgressPolicy(), files=files.lookup(client))
    with egress.open(sources.file_url(meta.id)) as f:
        assert f.size == len(data) and f.content_type == "x/y"
        f.seek(-10, io.SEEK_END)
        assert f.read() == data[-10:]
        f.seek(70_000)
        assert f.read(5) == data[70_000:70_005]
        # The last block and the one at 70 000, not the whole file.
        assert f.bytes_fetched == len(data) % BLOCK + BLOCK
    assert egress.fetch(sources.file_url(meta.id)) == data
    with pytest.raises(TooLargeError):
        egress.open(sources.file_url(meta.id), max_bytes=1000)
    with pytest.raises(DownloadError, match="no such uploaded file"):
        egress.open(sources.file_url("0" * 32))


def test_the_same_bytes_from_the_same_key_are_one_file(store: object) -> None:
    def upload(owner: str, data: bytes, name: str):  # type: ignore[no-untyped-def]
        return _store(
            lambda s: s.write(owner, _chunks(data), max_bytes=10_000, content_type=None, name=name)
        )

    first, again = upload("alice", b"same bytes", "a"), upload("alice", b"same bytes", "b")
    assert first.id == again.id and again.name == "b"
    assert upload("bob", b"same bytes", "a").id != first.id  # files are per key
    assert upload("alice", b"other bytes", "a").id != first.id
    assert len(redis.Redis.from_url(URL).keys("asyncml:file:*")) == 6  # 3 files, 2 keys each


def test_too_large_and_empty_uploads_leave_nothing(store: object) -> None:
    with pytest.raises(UploadTooLargeError, match="ASYNCML_UPLOAD_MAX_BYTES"):
        _store(
            lambda s: s.write(
                "a", _chunks(bytes(300_000)), max_bytes=250_000, content_type=None, name=None
            )
        )
    with pytest.raises(EmptyUploadError):
        _store(lambda s: s.write("a", _chunks(b""), max_bytes=10, content_type=None, name=None))
    assert redis.Redis.from_url(URL).keys("asyncml:file:*") == []


def test_data_uris() -> None:
    egress = Egress(EgressPolicy())
    raw = b"\x00\x01 binary"
    uri = "data:audio/wav;base64," + base64.b64encode(raw).decode()
    assert egress.fetch(uri) == raw
    with egress.open(uri) as f:
        assert f.content_type == "audio/wav" and f.read() == raw
    assert sources.parse_data_uri("data:,a%20b") == ("text/plain;charset=US-ASCII", b"a b")
    with pytest.raises(JobError) as refused:
        egress.fetch("data:;base64,***")
    assert refused.value.code == "invalid_input"
    with pytest.raises(TooLargeError):
        egress.fetch(uri, max_bytes=3)


def test_references_are_found_anywhere_in_an_input() -> None:
    file_url = sources.file_url("a" * 32)
    payload = {
        "url": file_url,
        "more": [{"x": "DATA:,x"}, "http://example.com", "data:text/plain;charset=utf-8,hé"],
        "n": 1,
        "prose": ["data: the numbers, as shown", f"see {file_url} later", f"{file_url} later"],
    }
    assert list(sources.references(payload)) == [
        ("input.url", file_url),
        ("input.more.0.x", "DATA:,x"),
        ("input.more.2", "data:text/plain;charset=utf-8,hé"),
    ]
    with pytest.raises(ValueError, match="32 hex digits"):
        sources.file_id("asyncml://files/../../etc")
