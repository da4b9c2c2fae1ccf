"""``/v1/files``: uploads a job input can point to (``asyncml://files/<id>``).

The body is the file itself (``curl --data-binary @a.wav -H 'Content-Type: audio/wav'
'…/v1/files?name=a.wav'``), streamed into the job store as it arrives: an upload over
``ASYNCML_UPLOAD_MAX_BYTES`` is answered 413, at once when its ``Content-Length`` says so
(``asyncml.api.limits``), else as soon as it passes. Files follow the API-key rules of jobs:
only the key that uploaded a file can read it or use it in a job.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from asyncml import sources
from asyncml.api.deps import AppSettings, Owner
from asyncml.api.jobs import BadRequestError
from asyncml.errors import JobNotFoundError, quoted
from asyncml.schemas import FileInfo, Problem
from asyncml.store.files import AsyncFileStore, FileMeta

router = APIRouter(prefix="/v1/files", tags=["files"])

ERRORS: dict[int | str, dict[str, Any]] = {
    413: {"model": Problem, "description": "Larger than ASYNCML_UPLOAD_MAX_BYTES"},
    422: {"model": Problem, "description": "Empty, or sent as a form"},
    503: {"model": Problem, "description": "Store unreachable; retry"},
}


def _info(meta: FileMeta) -> FileInfo:
    return FileInfo(
        id=meta.id,
        url=sources.file_url(meta.id),
        size=meta.size,
        content_type=meta.content_type,
        name=meta.name,
        created_at=meta.created_at,
        expires_at=meta.expires_at,
    )


def _store(request: Request) -> AsyncFileStore:
    files: AsyncFileStore = request.app.state.files
    return files


@router.post(
    "",
    status_code=201,
    responses=ERRORS,
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "the file's bytes (not a form)",
            "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
            },
        }
    },
)
async def upload_file(
    request: Request,
    response: Response,
    owner: Owner,
    settings: AppSettings,
    name: Annotated[
        str | None, Query(max_length=255, description="the file's name, for people")
    ] = None,
) -> FileInfo:
    """Upload a file; pass the ``url`` it returns (``asyncml://files/<id>``) as a job input.
    Kept as long as jobs are (``ASYNCML_JOB_RETENTION_S``, renewed by each job using it)."""
    content_type = request.headers.get("content-type")
    if content_type and content_type.lower().startswith("multipart/"):
        raise BadRequestError(
            "send the file's bytes as the request body (curl --data-binary @file), not a form"
        )
    meta = await _store(request).write(
        owner,
        request.stream(),
        max_bytes=settings.upload_max_bytes,
        content_type=content_type,
        name=name,
    )
    response.headers["Location"] = f"/v1/files/{meta.id}"
    return _info(meta)


@router.get("/{file_id}", responses={404: {"model": Problem, "description": "No such file"}})
async def read_file(file_id: str, request: Request, owner: Owner) -> FileInfo:
    """An uploaded file's size, type and expiry (another key's file is a 404)."""
    meta = await _store(request).get(file_id, owner) if len(file_id) <= 64 else None
    if meta is None:
        raise JobNotFoundError(f"no file with id {quoted(file_id)}")
    return _info(meta)
