"""The OpenAPI document, completed with what FastAPI cannot infer from the routes.

Every operation that takes an API key (FastAPI marks it with ``security``) can answer 401
(no or unknown key) and 429 (the key's rate limit); the key check is a dependency, which
cannot declare responses itself, so they are added here, once, for all of them.

The tasks come from the registry, not from the code: each registered version's input and
output schemas are added as components (``task.<name>-v<version>.input``), and
``POST /v1/jobs`` lists them. The document is rebuilt when the registry changes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from asyncml.store.registry import TaskManifest

_PROBLEM = {"application/json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
AUTH_RESPONSES: dict[str, dict[str, Any]] = {
    "401": {"description": "No API key, or an unknown one", "content": _PROBLEM},
    "429": {
        "description": "Too many requests for this key; retry after Retry-After seconds",
        "content": _PROBLEM,
    },
}


def install(app: FastAPI) -> None:
    built_for = [-2]

    def openapi() -> dict[str, Any]:
        catalog = getattr(app.state, "catalog", None)
        generation = catalog.generation if catalog is not None else -1
        if app.openapi_schema is None or built_for[0] != generation:
            built_for[0] = generation
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
            if catalog is not None:
                add_tasks(schema, catalog.manifests.values())
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def add_tasks(schema: dict[str, Any], manifests: Iterable[TaskManifest]) -> None:
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    rows = []
    for m in sorted(manifests, key=lambda m: m.key):
        # Component names allow letters, digits, '.', '-' and '_' only.
        base = "task." + re.sub(r"[^A-Za-z0-9._-]", "_", f"{m.name}-v{m.version}")
        for part, task_schema in (("input", m.input_schema), ("output", m.output_schema)):
            components[f"{base}.{part}"] = _hoisted(task_schema, f"{base}.", components)
        link = f"[{base}.input](#/components/schemas/{base}.input)"
        rows.append(f"| `{m.name}` | {m.version} | {m.queue} | {link} | {m.description} |")
    post = schema.get("paths", {}).get("/v1/jobs", {}).get("post")
    if post is not None and rows:
        table = "| task | version | queue | input schema | description |\n|---|---|---|---|---|\n"
        post["description"] = (
            post.get("description", "")
            + "\n\nTasks registered now (from the workers' manifests):\n\n"
            + table
            + "\n".join(rows)
        )


def _hoisted(task_schema: dict[str, Any], prefix: str, components: dict[str, Any]) -> Any:
    """``task_schema`` with its ``$defs`` moved into ``components`` under ``prefix``."""
    body = dict(task_schema)
    for name, definition in body.pop("$defs", {}).items():
        components[prefix + name] = _relinked(definition, prefix)
    relinked: Any = _relinked(body, prefix)
    return relinked


def _relinked(node: Any, prefix: str) -> Any:
    if isinstance(node, dict):
        return {
            k: (
                f"#/components/schemas/{prefix}{v.removeprefix('#/$defs/')}"
                if k == "$ref" and isinstance(v, str) and v.startswith("#/$defs/")
                else _relinked(v, prefix)
            )
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_relinked(item, prefix) for item in node]
    return node
