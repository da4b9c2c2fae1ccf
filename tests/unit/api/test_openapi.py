"""The OpenAPI document and the edge's HTTP errors, as schemathesis found them wanting
(tests/integration/test_fuzz.py): each test here pins one fix."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from asyncml.api.app import create_app
from asyncml.settings import Settings


@pytest.fixture(scope="module")
def client() -> TestClient:
    # No lifespan: these requests are all answered before any store or broker is needed.
    return TestClient(create_app(Settings(api_keys=SecretStr("fuzz:fuzz-key-0123456789abcdef"))))


@pytest.fixture(scope="module")
def schema(client: TestClient) -> dict[str, Any]:
    document: dict[str, Any] = client.get("/openapi.json").json()
    return document


def test_405_allow_lists_every_method_of_the_path(client: TestClient) -> None:
    # Starlette named only the first route that matched the path: "Allow: POST".
    response = client.request("DELETE", "/v1/jobs")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, POST"
    assert response.json()["error"]["code"] == "method_not_allowed"


def test_a_body_that_is_not_text_is_malformed_json_422(client: TestClient) -> None:
    # FastAPI answered 400 "There was an error parsing the body", which no route documents.
    for path in ("/v1/jobs", "/audio/length"):
        response = client.post(
            path, content=b"\xff\xfe{", headers={"content-type": "application/json"}
        )
        assert response.status_code == 422, response.text
        assert response.json()["error"] == {
            "code": "invalid_request",
            "message": "the request body is not valid JSON (it is not UTF-8 text)",
        }


def _operation(schema: dict[str, Any], ref: str) -> dict[str, Any]:
    assert ref.startswith("#/paths/")
    pointer, method = ref[len("#/paths/") :].rsplit("/", 1)
    path = pointer.replace("%7B", "{").replace("%7D", "}").replace("~1", "/").replace("~0", "~")
    operation: dict[str, Any] = schema["paths"][path][method]
    return operation


def test_created_jobs_link_to_their_operations(schema: dict[str, Any]) -> None:
    links = schema["paths"]["/v1/jobs"]["post"]["responses"]["202"]["links"]
    assert set(links) == {"ReadJob", "CancelJob", "StreamJobEvents", "RedeliverWebhook"}
    for link in links.values():
        target = _operation(schema, link["operationRef"])
        assert [p["name"] for p in target["parameters"] if p["in"] == "path"] == ["job_id"]
        assert link["parameters"] == {"job_id": "$response.body#/id"}
    for path in ("/audio/length", "/audio/gender", "/euro/results"):
        link = schema["paths"][path]["post"]["responses"]["201"]["links"]["ReadTask"]
        assert _operation(schema, link["operationRef"])["operationId"].startswith("read_task")


def test_every_operation_that_takes_a_key_documents_401_and_429(schema: dict[str, Any]) -> None:
    secured = [
        (path, method, operation)
        for path, operations in schema["paths"].items()
        for method, operation in operations.items()
        if operation.get("security")
    ]
    assert len(secured) >= 10
    for path, method, operation in secured:
        assert {"401", "429"} <= set(operation["responses"]), (method, path)
    assert "401" not in schema["paths"]["/healthz"]["get"]["responses"]


def test_readyz_documents_its_503(schema: dict[str, Any]) -> None:
    assert "503" in schema["paths"]["/readyz"]["get"]["responses"]
