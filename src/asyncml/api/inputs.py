"""What a job input refers to, checked before the job is queued: uploaded files and data:
URIs (``asyncml.sources``). Each problem is a 422 naming the field."""

from __future__ import annotations

from typing import Any

from asyncml import sources
from asyncml.api.jobs import BadRequestError
from asyncml.store.files import AsyncFileStore


async def check_references(
    payload: Any, owner: str, files: AsyncFileStore, data_uri_max_bytes: int
) -> None:
    """Refuse a data: URI over the cap or malformed, and a file that is not the caller's
    (or no longer exists); keep each referred file as long as the job."""
    for where, value in sources.references(payload):
        if sources.is_data_uri(value):
            if len(value) > data_uri_max_bytes:
                raise BadRequestError(
                    f"{where}: a data: URI of {len(value)} characters, over the "
                    f"{data_uri_max_bytes} allowed (ASYNCML_DATA_URI_MAX_BYTES); upload "
                    "the file with POST /v1/files and pass the url it returns"
                )
            try:
                sources.parse_data_uri(value)
            except ValueError as exc:
                raise BadRequestError(f"{where}: {exc}") from None
            continue
        try:
            file_id = sources.file_id(value)
        except ValueError as exc:
            raise BadRequestError(f"{where}: {exc}") from None
        if await files.keep(file_id, owner) is None:
            raise BadRequestError(
                f"{where}: no uploaded file {file_id} (it expired, or was uploaded with "
                "another API key); upload it again with POST /v1/files"
            )
