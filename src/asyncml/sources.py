"""Where a job input may point, besides an http(s) URL: an uploaded file or a data: URI.

- ``asyncml://files/<id>``: a file uploaded with ``POST /v1/files``, kept in the job store
  (so every worker host can read it) as long as jobs are kept;
- ``data:[<media type>][;base64],<data>`` (RFC 2397): small content inline, up to
  ``ASYNCML_DATA_URI_MAX_BYTES`` characters.

Both are accepted wherever a task's input takes ``asyncml.InputUrl`` (the built-in audio
tasks' ``url``), and a task reads them with the same ``ctx.open(url)``/``ctx.fetch(url)``
as an http(s) URL. The API checks them before queueing a job: a data: URI over the cap, or
one that does not decode, and a file that does not exist or belongs to another API key,
are answered 422.

This module imports nothing from the web or queue side.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote_to_bytes

FILE_URL_PREFIX = "asyncml://files/"
_FILE_ID = re.compile(r"^[0-9a-f]{32}$")
# What the API checks as a reference in any input string: a whole file URL, or a data: URI
# by RFC 2397's grammar up to its comma (so a text that merely starts with "data: " or
# mentions a file URL in prose is left alone).
_TOKEN = r"[\w!#$&^.+-]+"
_DATA_URI_HEAD = re.compile(
    rf"^data:(?:{_TOKEN}/{_TOKEN})?(?:;{_TOKEN}=[^;,\s]+)*(?:;base64)?,", re.IGNORECASE
)
_FILE_URL = re.compile(rf"^{re.escape(FILE_URL_PREFIX)}\S*$")
DEFAULT_DATA_TYPE = "text/plain;charset=US-ASCII"


def file_url(file_id: str) -> str:
    return f"{FILE_URL_PREFIX}{file_id}"


def is_file_url(value: str) -> bool:
    return value.startswith(FILE_URL_PREFIX)


def is_data_uri(value: str) -> bool:
    return value[:5].lower() == "data:"


def file_id(url: str) -> str:
    """The id in an ``asyncml://files/<id>`` URL; ValueError when it is not one."""
    found = url[len(FILE_URL_PREFIX) :] if is_file_url(url) else ""
    if not _FILE_ID.match(found):
        raise ValueError(
            f"{url[:80]!r} is not an uploaded file's URL ({FILE_URL_PREFIX}<32 hex digits>, "
            "as POST /v1/files returns it)"
        )
    return found


def parse_data_uri(uri: str) -> tuple[str, bytes]:
    """``(media type, bytes)`` of a data: URI; ValueError with the reason when malformed."""
    if not is_data_uri(uri):
        raise ValueError("not a data: URI")
    head, comma, data = uri[5:].partition(",")
    if not comma:
        raise ValueError("a data: URI needs a comma before its data (data:[type][;base64],…)")
    encoded = head.lower().endswith(";base64")
    media = head[: -len(";base64")] if encoded else head
    if encoded:
        try:
            body = base64.b64decode(unquote_to_bytes(data), validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("the data: URI says ;base64 but its data is not base64") from None
    else:
        body = unquote_to_bytes(data)
    return (media or DEFAULT_DATA_TYPE), body


def references(value: Any, path: str = "input") -> Iterator[tuple[str, str]]:
    """``(where, string)`` for every file URL and data: URI in a JSON value."""
    if isinstance(value, str):
        if _FILE_URL.match(value) or _DATA_URI_HEAD.match(value):
            yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from references(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from references(item, f"{path}.{index}")
