"""The OpenAPI document, completed with what FastAPI cannot infer from the routes.

Every operation that takes an API key (FastAPI marks it with ``security``) can answer 401
(no or unknown key) and 429 (the key's rate limit); the key check is a dependency, which
cannot declare responses itself, so they are added here, once, for all of them.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

_PROBLEM = {"application/json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
AUTH_RESPONSES: dict[str, dict[str, Any]] = {
    "401": {"description": "No API key, or an unknown one", "content": _PROBLEM},
    "429": {
        "description": "Too many requests for this key; retry after Retry-After seconds",
        "content": _PROBLEM,
    },
}


def install(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            for operations in schema.get("paths", {}).values():
                for operation in operations.values():
                    if isinstance(operation, dict) and operation.get("security"):
                        responses = operation.setdefault("responses", {})
                        for status, response in AUTH_RESPONSES.items():
                            responses.setdefault(status, response)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
