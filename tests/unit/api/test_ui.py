"""The console's files as the API serves them: a strict policy on every answer, only the
shipped files, and no /ui at all when ASYNCML_CONSOLE=false."""

from __future__ import annotations

import re
from importlib import resources

from fastapi.testclient import TestClient

from asyncml.api.app import create_app
from asyncml.api.ui import CSP, load_files
from asyncml.settings import Settings


def client(**settings: object) -> TestClient:
    # No lifespan: serving files needs no store or broker.
    return TestClient(create_app(Settings(**settings)))  # type: ignore[arg-type]


def test_every_answer_carries_the_policy() -> None:
    api = client()
    for path in ("/ui", "/ui/static/app.js", "/ui/static/console.css", "/ui/static/nope.js"):
        response = api.get(path)
        assert response.headers["content-security-policy"] == CSP, path
        assert response.headers["x-frame-options"] == "DENY"
    assert api.get("/ui/static/nope.js").status_code == 404
    assert api.get("/ui/", follow_redirects=False).headers["location"] == "/ui"


def test_the_policy_allows_nothing_inline() -> None:
    assert "unsafe" not in CSP and "default-src 'self'" in CSP and "object-src 'none'" in CSP


def test_the_shipped_files_hold_no_inline_code_or_markup_sinks() -> None:
    files = load_files()
    assert {"index.html", "app.js", "api.js", "dom.js", "console.css"} <= set(files)
    page = files["index.html"].body.decode()
    assert re.findall(r"<script[^>]*>", page) == ['<script type="module" src="/ui/static/app.js">']
    assert " style=" not in page and "<style" not in page
    assert not re.search(r"\son[a-z]+\s*=", page)
    for name, file in files.items():
        if name.endswith(".js"):
            text = file.body.decode()
            for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
                assert sink not in text, (name, sink)
    static = resources.files("asyncml.api.ui") / "static"
    assert {entry.name for entry in static.iterdir()} == set(files)


def test_console_false_serves_no_ui() -> None:
    api = client(console=False)
    assert api.get("/ui").status_code == 404
    assert api.get("/ui/static/app.js").status_code == 404
