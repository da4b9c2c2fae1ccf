"""The interactive API docs at /docs, served whole from the package, and GET / leading there.

FastAPI's default /docs page loads Swagger UI from a CDN, so it is blank offline or behind
a firewall that blocks it. Here its script, stylesheet and icon come from
``asyncml/api/static/swagger-ui`` (swagger-ui-dist 5.36.0, Apache-2.0: LICENSE and NOTICE
beside the files; to update, copy the same files from a newer swagger-ui-dist package).
ReDoc has no copy here, so /redoc is off rather than blank.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

ASSETS = Path(__file__).resolve().parent.parent / "static" / "swagger-ui"
ASSETS_PATH = "/docs/assets"

router = APIRouter(include_in_schema=False)


def _root(request: Request) -> str:
    """The prefix a proxy serves this API under (uvicorn's --root-path), without a slash."""
    return str(request.scope.get("root_path", "")).rstrip("/")


@router.get("/")
async def home(request: Request) -> RedirectResponse:
    """A browser pointed at the API lands on its docs rather than on a 404."""
    return RedirectResponse(f"{_root(request)}/docs", status_code=307)


@router.get("/docs")
async def swagger_ui(request: Request) -> HTMLResponse:
    root = _root(request)
    app: FastAPI = request.app
    return get_swagger_ui_html(
        openapi_url=f"{root}{app.openapi_url}",
        title=f"{app.title}: API docs",
        swagger_js_url=f"{root}{ASSETS_PATH}/swagger-ui-bundle.js",
        swagger_css_url=f"{root}{ASSETS_PATH}/swagger-ui.css",
        swagger_favicon_url=f"{root}{ASSETS_PATH}/favicon-32x32.png",
    )


def install(app: FastAPI) -> None:
    """Serve /docs and its assets from the package (the app is made with docs_url=None)."""
    app.include_router(router)
    app.mount(ASSETS_PATH, StaticFiles(directory=ASSETS), name="swagger-ui")
