"""The import rules of the package map, kept by reading the source with ``ast``
(``tests/importgraph.py``): the API never imports the worker, task and model code never
imports web or queue libraries, only ``queue/`` and ``worker/`` know Celery and kombu, and no
module takes part in an import circle. The last tests show the checker fails when a
forbidden import or a circle is added."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.importgraph import Import, ImportGraph, forbidden

SRC = Path(__file__).resolve().parents[2] / "src" / "asyncml"

QUEUE_LIBRARIES = ("celery", "kombu", "billiard", "amqp")
WEB_LIBRARIES = ("fastapi", "starlette", "uvicorn")

# (who, what they must not import, who is exempt)
RULES: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    "the API never imports the worker": (("asyncml.api",), ("asyncml.worker",), ()),
    "task and model code stays free of web and queue code": (
        ("asyncml.tasks", "asyncml.models"),
        ("asyncml.api", "asyncml.worker", "asyncml.queue", *QUEUE_LIBRARIES, *WEB_LIBRARIES),
        (),
    ),
    "only queue/ and worker/ import Celery and kombu": (
        ("asyncml",),
        QUEUE_LIBRARIES,
        ("asyncml.queue", "asyncml.worker"),
    ),
    "the store and the metrics build on nothing above them": (
        ("asyncml.store", "asyncml.metrics"),
        ("asyncml.api", "asyncml.worker", "asyncml.queue", *QUEUE_LIBRARIES, *WEB_LIBRARIES),
        (),
    ),
    "the command line's client side and the demo are clients": (
        ("asyncml.console", "asyncml.demo"),
        ("asyncml.api", "asyncml.worker", "asyncml.queue", "asyncml.store", *QUEUE_LIBRARIES),
        (),
    ),
    "the SDK and the egress client import no server code": (
        ("asyncml.client", "asyncml.net"),
        ("asyncml.api", "asyncml.worker", "asyncml.queue", "asyncml.store"),
        (),
    ),
}

# Imports that break a rule today; the test below fails when one of them is gone, so the
# list only shrinks. Empty: every rule holds.
KNOWN: set[tuple[str, str]] = set()


def broken(graph: ImportGraph) -> dict[str, list[Import]]:
    """Each rule's name → the imports that break it."""
    found = {}
    for rule, (importers, imported, exempt) in RULES.items():
        found[rule] = forbidden(graph, importers, imported, except_in=exempt)
    return found


def _new(imports: list[Import]) -> list[str]:
    return [
        f"{i.importer} imports {i.imported} (line {i.line})"
        for i in imports
        if (i.importer, i.imported) not in KNOWN
    ]


@pytest.fixture(scope="module")
def graph() -> ImportGraph:
    return ImportGraph(SRC)


@pytest.mark.parametrize("rule", sorted(RULES))
def test_rule_holds(graph: ImportGraph, rule: str) -> None:
    assert _new(broken(graph)[rule]) == []


def test_known_exceptions_are_still_there(graph: ImportGraph) -> None:
    # An exception that no longer happens is taken off the list, so it cannot come back.
    seen = {(i.importer, i.imported) for imports in broken(graph).values() for i in imports}
    assert KNOWN - seen == set()


def test_no_import_circles(graph: ImportGraph) -> None:
    assert graph.circles() == []


def test_the_graph_sees_the_package(graph: ImportGraph) -> None:
    # A checker that read nothing would pass every rule.
    assert {"asyncml.api.app", "asyncml.worker.base", "asyncml.tasks.audio_length"} <= set(
        graph.modules
    )
    assert "asyncml.worker.base" in graph.edges()["asyncml.worker.app"]
    assert any(i.imported == "celery" for i in graph.imports["asyncml.worker.base"])


def _not_source(folder: str, names: list[str]) -> list[str]:
    return [n for n in names if not n.endswith(".py") and not (Path(folder) / n).is_dir()]


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    root = tmp_path / "asyncml"
    shutil.copytree(SRC, root, ignore=_not_source)
    return root


def _add(path: Path, line: str, *, inside_function: bool = False) -> None:
    code = f"\n\ndef _added() -> None:\n    {line}\n" if inside_function else f"\n{line}\n"
    path.write_text(path.read_text() + code)


@pytest.mark.parametrize(
    ("module", "line", "rule"),
    [
        (
            "api/routes/jobs.py",
            "from asyncml.worker import base",
            "the API never imports the worker",
        ),
        (
            "tasks/audio_length.py",
            "import fastapi",
            "task and model code stays free of web and queue code",
        ),
        (
            "models/euro.py",
            "from celery import Celery",
            "task and model code stays free of web and queue code",
        ),
        ("store/records.py", "import kombu", "only queue/ and worker/ import Celery and kombu"),
        (
            "client/sync.py",
            "from asyncml.store import records",
            "the SDK and the egress client import no server code",
        ),
    ],
)
def test_a_forbidden_import_fails_its_rule(
    graph: ImportGraph, copy: Path, module: str, line: str, rule: str
) -> None:
    assert _new(broken(graph)[rule]) == []
    _add(copy / module, line, inside_function=True)  # a deferred import counts too
    assert _new(broken(ImportGraph(copy))[rule]) != []


def test_a_type_checking_import_is_not_an_import(copy: Path) -> None:
    _add(
        copy / "api/deps.py",
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import celery",
    )
    assert _new(broken(ImportGraph(copy))["only queue/ and worker/ import Celery and kombu"]) == []


def test_a_circle_is_found(copy: Path) -> None:
    # net/client.py imports errors.py; an import back closes a circle.
    _add(copy / "errors.py", "from asyncml.net import client", inside_function=True)
    circles = ImportGraph(copy).circles()
    assert any({"asyncml.errors", "asyncml.net.client"} <= set(c) for c in circles)
