"""The browser console at ``/ui``: HTML, CSS and JavaScript modules shipped in this package
(``static/``), served as they are: no CDN, no build step, works offline.

The console is a client of the public HTTP API like the SDK: its scripts call ``/v1/…``
with the API key the user typed (a Bearer header; kept in sessionStorage, never a cookie),
so it sees exactly what that key sees. Every response from here carries a strict
Content-Security-Policy: scripts and styles only from these files, nothing inline, no
frames, no plug-ins, so text from a job that slipped into markup still could not run.

This package serves files; it must not import the store, the broker or task code.
``ASYNCML_CONSOLE=false`` leaves it out of the app.
"""

from __future__ import annotations

import hashlib
from importlib import resources

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import RedirectResponse

PREFIX = "/ui"
CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ]
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    # Revalidate every time (cheap: an ETag), so an upgraded server never runs old scripts.
    "Cache-Control": "no-cache",
}
MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}


class StaticFile:
    def __init__(self, body: bytes, media_type: str) -> None:
        self.body = body
        self.media_type = media_type
        self.etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'

    def response(self, request: Request) -> Response:
        headers = HEADERS | {"ETag": self.etag}
        if request.headers.get("if-none-match") == self.etag:
            return Response(status_code=304, headers=headers)
        return Response(self.body, media_type=self.media_type, headers=headers)


def load_files() -> dict[str, StaticFile]:
    """Every shipped file by name, read once: the set is fixed, so a request can never name
    a path outside it."""
    files = {}
    for entry in (resources.files(__package__) / "static").iterdir():
        suffix = "." + entry.name.rpartition(".")[2]
        if entry.is_file() and suffix in MEDIA_TYPES:
            files[entry.name] = StaticFile(entry.read_bytes(), MEDIA_TYPES[suffix])
    return files


def create_router() -> APIRouter:
    files = load_files()
    router = APIRouter(prefix=PREFIX, include_in_schema=False)

    @router.get("")
    async def read_console(request: Request) -> Response:
        return files["index.html"].response(request)

    @router.get("/")
    async def read_console_slash() -> Response:
        return RedirectResponse(PREFIX, status_code=308, headers=HEADERS)

    @router.get("/static/{name}")
    async def read_static(name: str, request: Request) -> Response:
        found = files.get(name)
        if found is None:
            return Response("no such file", status_code=404, headers=HEADERS)
        return found.response(request)

    return router


def install(app: FastAPI) -> None:
    app.include_router(create_router())
