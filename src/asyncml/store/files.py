"""Uploaded files (``POST /v1/files``) in the job store: every worker host can read them.

A file is two keys, kept as long as jobs are (``ASYNCML_JOB_RETENTION_S``): its bytes in
one string and its metadata (owner, size, type, name) in a hash. An upload is appended to
a partial key as it streams in, in chunks, so the API never holds a whole upload in
memory, and is renamed into place only once complete and within the cap: a half-sent or
oversized upload leaves nothing behind (its partial key is deleted, or expires). A job
that refers to a file extends the file's life to its own retention.

A file's id is derived from its uploader and its bytes (SHA-256): the same key uploading
the same file again gets the same URL (so a retried submit with an ``Idempotency-Key``
and a local path sends the same body), and the bytes are stored once.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from asyncml.store.records import PREFIX

# Appends go to the store in pieces of about this size (fewer round trips than one per
# network read, a bounded buffer in the API).
APPEND_BYTES = 256 * 1024
# How long a partial upload may take before its bytes expire on their own.
PARTIAL_TTL_S = 3600


def data_key(file_id: str) -> str:
    return f"{PREFIX}:file:{file_id}"


def meta_key(file_id: str) -> str:
    return f"{PREFIX}:file:{file_id}:meta"


def partial_key(file_id: str) -> str:
    return f"{PREFIX}:file:{file_id}:partial"


def too_large_message(limit: int) -> str:
    return f"the upload is larger than {limit} bytes (ASYNCML_UPLOAD_MAX_BYTES)"


class UploadTooLargeError(Exception):
    """The upload went past the cap (HTTP 413)."""

    def __init__(self, limit: int) -> None:
        super().__init__(too_large_message(limit))
        self.limit = limit


class EmptyUploadError(Exception):
    """The upload had no bytes (HTTP 422)."""

    def __init__(self) -> None:
        super().__init__("the upload is empty: send the file's bytes as the request body")


@dataclass(frozen=True)
class FileMeta:
    id: str
    owner: str
    size: int
    content_type: str | None
    name: str | None
    created_at: dt.datetime
    expires_at: dt.datetime


def _meta(file_id: str, raw: dict[bytes, bytes], ttl_s: float) -> FileMeta:
    created = float(raw[b"created_at"])
    content_type = raw.get(b"content_type")
    name = raw.get(b"name")
    return FileMeta(
        id=file_id,
        owner=raw[b"owner"].decode(),
        size=int(raw[b"size"]),
        content_type=content_type.decode() if content_type else None,
        name=name.decode() if name else None,
        created_at=dt.datetime.fromtimestamp(created, tz=dt.UTC),
        expires_at=dt.datetime.fromtimestamp(time.time() + max(0.0, ttl_s), tz=dt.UTC),
    )


class AsyncFileStore:
    """The API's side: write uploads, look them up for their owner."""

    def __init__(self, redis: Any, retention_s: int) -> None:
        self.redis = redis
        self.retention_s = retention_s

    async def write(
        self,
        owner: str,
        chunks: AsyncIterator[bytes],
        *,
        max_bytes: int,
        content_type: str | None,
        name: str | None,
    ) -> FileMeta:
        """Store an upload as it arrives; UploadTooLargeError past ``max_bytes``."""
        partial = partial_key(uuid.uuid4().hex)
        digest = hashlib.sha256(owner.encode() + b"\0")
        size = 0
        buffer = bytearray()
        try:
            async for chunk in chunks:
                size += len(chunk)
                if size > max_bytes:
                    raise UploadTooLargeError(max_bytes)
                digest.update(chunk)
                buffer += chunk
                if len(buffer) >= APPEND_BYTES:
                    await self._append(partial, bytes(buffer))
                    buffer.clear()
            if not size:
                raise EmptyUploadError
            if buffer:
                await self._append(partial, bytes(buffer))
        except BaseException:
            await self.redis.delete(partial)
            raise
        file_id = digest.hexdigest()[:32]
        fields: dict[str, str | int] = {
            "owner": owner,
            "size": size,
            "created_at": repr(time.time()),
        }
        if content_type:
            fields["content_type"] = content_type
        if name:
            fields["name"] = name
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.rename(partial, data_key(file_id))
            pipe.expire(data_key(file_id), self.retention_s)
            pipe.hset(meta_key(file_id), mapping=fields)
            pipe.expire(meta_key(file_id), self.retention_s)
            await pipe.execute()
        return _meta(
            file_id, {k.encode(): str(v).encode() for k, v in fields.items()}, self.retention_s
        )

    async def _append(self, key: str, data: bytes) -> None:
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.append(key, data)
            pipe.expire(key, PARTIAL_TTL_S)
            await pipe.execute()

    async def get(self, file_id: str, owner: str) -> FileMeta | None:
        """The file's metadata when it exists and ``owner`` uploaded it."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hgetall(meta_key(file_id))
            pipe.ttl(meta_key(file_id))
            raw, ttl = await pipe.execute()
        if not raw or raw.get(b"owner", b"").decode() != owner:
            return None
        return _meta(file_id, raw, float(ttl))

    async def keep(self, file_id: str, owner: str) -> FileMeta | None:
        """``get``, and keep the file at least as long as a job created now."""
        found = await self.get(file_id, owner)
        if found is None:
            return None
        async with self.redis.pipeline(transaction=False) as pipe:
            for key in (data_key(file_id), meta_key(file_id)):
                pipe.expire(key, self.retention_s, gt=True)
            await pipe.execute()
        return found


@dataclass
class StoredBytes:
    """A worker's view of an uploaded file: its size and type, and spans read on demand."""

    redis: Any
    file_id: str
    size: int
    content_type: str | None

    def read(self, offset: int, length: int) -> bytes:
        data: bytes = self.redis.getrange(data_key(self.file_id), offset, offset + length - 1)
        return data


def lookup(redis: Any) -> Any:
    """The worker's file lookup for ``Egress(files=…)`` (a sync client)."""

    def find(file_id: str) -> StoredBytes | None:
        size, content_type = redis.hmget(meta_key(file_id), "size", "content_type")
        if size is None or not redis.exists(data_key(file_id)):
            return None
        kind = content_type.decode() if content_type else None
        return StoredBytes(redis, file_id, int(size), kind)

    return find
