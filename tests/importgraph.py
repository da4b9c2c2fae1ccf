"""The import graph of a source tree, read with ``ast`` (nothing is imported), and the rules
asyncml keeps on it: which package may import which, and no circles.

An edge is every ``import``/``from … import`` in a module, inside functions too (a deferred
import that dodges a circle is still a circle in the design); imports under
``if TYPE_CHECKING:`` are left out, since they never run. ``from pkg import name`` is an edge to
``pkg.name`` when that is a module, else to the module that ``pkg/__init__.py`` re-exports
``name`` from, else to ``pkg`` itself.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Import:
    """One import of a module: the name as written (resolved to a module of the tree when it is
    one) and the line it is on."""

    importer: str
    imported: str
    line: int


def module_names(root: Path) -> dict[str, Path]:
    """Every module under ``root`` (a package directory) by its dotted name."""
    names = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        names[".".join(parts)] = path
    return names


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _import_nodes(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and _is_type_checking(node):
            yield from _import_nodes(ast.Module(body=node.orelse, type_ignores=[]))
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        yield from _import_nodes(node)


def _absolute(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


class ImportGraph:
    """The modules of one package tree and their imports (of the tree and of libraries)."""

    def __init__(self, root: Path) -> None:
        self.modules = module_names(root)
        self._trees = {name: ast.parse(path.read_text()) for name, path in self.modules.items()}
        self._reexports = {name: self._names_from(name) for name in self.modules}
        self.imports: dict[str, list[Import]] = {name: self._read(name) for name in self.modules}

    def _names_from(self, package: str) -> dict[str, str]:
        # name → module it comes from, for the names an __init__.py imports at its top level
        if self.modules[package].name != "__init__.py":
            return {}
        found = {}
        for node in self._trees[package].body:
            if isinstance(node, ast.ImportFrom):
                source = _absolute(package, True, node)
                for alias in node.names:
                    found[alias.asname or alias.name] = source
        return found

    def _in_tree(self, name: str) -> str:
        # the longest prefix of ``name`` that is a module of the tree, or ``name`` itself
        probe = name
        while probe and probe not in self.modules:
            probe = probe.rpartition(".")[0]
        return probe or name

    def _read(self, module: str) -> list[Import]:
        is_package = self.modules[module].name == "__init__.py"
        found = []
        for node in _import_nodes(self._trees[module]):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    found.append(Import(module, self._in_tree(alias.name), node.lineno))
                continue
            source = _absolute(module, is_package, node)
            for alias in node.names:
                target = f"{source}.{alias.name}"
                if target not in self.modules:
                    target = self._reexports.get(source, {}).get(alias.name, source)
                found.append(Import(module, self._in_tree(target), node.lineno))
        return [i for i in found if i.imported != module]

    def edges(self) -> dict[str, set[str]]:
        """Module → the modules of the tree it imports."""
        return {
            name: {i.imported for i in imports if i.imported in self.modules}
            for name, imports in self.imports.items()
        }

    def circles(self) -> list[list[str]]:
        """Each group of modules that import each other, directly or through others (the
        strongly connected components with more than one module), sorted."""
        edges = self.edges()
        index: dict[str, int] = {}
        low: dict[str, int] = {}
        stack: list[str] = []
        groups: list[list[str]] = []

        def visit(node: str) -> None:
            index[node] = low[node] = len(index)
            stack.append(node)
            for nxt in sorted(edges[node]):
                if nxt not in index:
                    visit(nxt)
                    low[node] = min(low[node], low[nxt])
                elif nxt in stack:
                    low[node] = min(low[node], index[nxt])
            if low[node] == index[node]:
                group = []
                while True:
                    top = stack.pop()
                    group.append(top)
                    if top == node:
                        break
                if len(group) > 1:
                    groups.append(sorted(group))

        for node in sorted(edges):
            if node not in index:
                visit(node)
        return sorted(groups)


def _within(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def forbidden(
    graph: ImportGraph,
    importers: tuple[str, ...],
    imported: tuple[str, ...],
    *,
    except_in: tuple[str, ...] = (),
) -> list[Import]:
    """The imports, by a module under ``importers`` but not under ``except_in``, of anything
    under ``imported`` (names are dotted prefixes: ``asyncml.api`` covers the package)."""
    return [
        i
        for name, imports in graph.imports.items()
        if _within(name, importers) and not _within(name, except_in)
        for i in imports
        if _within(i.imported, imported)
    ]
