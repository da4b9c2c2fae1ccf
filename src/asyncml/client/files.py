"""Uploads for the sync and async clients: what to send for a local file, and local paths
in a job's input, replaced by the uploaded file's URL. No I/O on the network here.

``client.submit("audio.length", {"url": Path("a.wav")})`` uploads ``a.wav`` first
(``POST /v1/files``) and sends ``{"url": "asyncml://files/<id>"}``: any ``os.PathLike``
value in an input, at any depth, is uploaded. ``client.upload(path)`` does it alone.
"""

from __future__ import annotations

import datetime as dt
import mimetypes
import os
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CHUNK = 256 * 1024


@dataclass(frozen=True)
class FileRef:
    """An uploaded file: pass ``url`` where a job input takes a URL."""

    id: str
    url: str
    size: int
    content_type: str | None = None
    name: str | None = None
    expires_at: dt.datetime | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FileRef:
        expires = data.get("expires_at")
        return cls(
            id=str(data["id"]),
            url=str(data["url"]),
            size=int(data.get("size") or 0),
            content_type=data.get("content_type"),
            name=data.get("name"),
            expires_at=dt.datetime.fromisoformat(expires) if expires else None,
            raw=data,
        )


@dataclass(frozen=True)
class Upload:
    """One upload request: a path streamed from disk, or bytes in memory."""

    path: Path | None
    data: bytes | None
    name: str | None
    content_type: str

    @classmethod
    def of(
        cls, file: str | os.PathLike[str] | bytes, name: str | None, content_type: str | None
    ) -> Upload:
        if isinstance(file, bytes):
            return cls(None, file, name, content_type or "application/octet-stream")
        path = Path(file)
        if not path.is_file():
            raise FileNotFoundError(f"no file at {path}")
        name = name or path.name
        guessed = mimetypes.guess_type(name)[0]
        return cls(path, None, name, content_type or guessed or "application/octet-stream")

    @property
    def size(self) -> int:
        return len(self.data) if self.data is not None else os.path.getsize(self.path or "")

    def request(self) -> dict[str, Any]:
        """``params`` and ``headers`` of the request (the body is ``content()``)."""
        params = {"name": self.name} if self.name else {}
        headers = {"Content-Type": self.content_type, "Content-Length": str(self.size)}
        return {"params": params, "headers": headers}

    def content(self) -> bytes | Iterator[bytes]:
        """The body for a sync request, from the start (each retry calls it again)."""
        if self.data is not None:
            return self.data
        return _chunks(self.path or Path())

    def acontent(self) -> bytes | AsyncIterator[bytes]:
        """The body for an async request; disk reads run in a worker thread."""
        if self.data is not None:
            return self.data
        return _achunks(self.path or Path())


def _chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            yield chunk


async def _achunks(path: Path) -> AsyncIterator[bytes]:
    from anyio import to_thread

    with path.open("rb") as f:
        while chunk := await to_thread.run_sync(f.read, CHUNK):
            yield chunk


def local_paths(value: Any) -> list[Path]:
    """The ``os.PathLike`` values in a job input, at any depth."""
    if isinstance(value, os.PathLike):
        return [Path(value)]
    if isinstance(value, dict):
        return [p for item in value.values() for p in local_paths(item)]
    if isinstance(value, list | tuple):
        return [p for item in value for p in local_paths(item)]
    return []


def with_urls(value: Any, url_of: Callable[[Path], str]) -> Any:
    """``value`` with each ``os.PathLike`` replaced by ``url_of`` it."""
    if isinstance(value, os.PathLike):
        return url_of(Path(value))
    if isinstance(value, dict):
        return {key: with_urls(item, url_of) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [with_urls(item, url_of) for item in value]
    return value


def uploading(input: Any, upload: Callable[[Path], str]) -> Any:
    """``input`` with each local path uploaded (once) and replaced by its URL."""
    paths = local_paths(input)
    if not paths:
        return input
    urls = {path: upload(path) for path in dict.fromkeys(paths)}
    return with_urls(input, urls.__getitem__)
