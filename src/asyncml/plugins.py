"""Finding task classes: installed packages' entry points and import strings.

A package declares its tasks in its pyproject::

    [project.entry-points."asyncml.tasks"]
    language = "langdetect_task:DetectLanguage"      # a task class, or a list of them

and ``asyncml worker --tasks module[:attr]`` or ``ASYNCML_TASKS`` (comma-separated) add
import strings. ``module`` alone takes every task class defined in that module.

Only worker-side commands import this: loading a task imports its module.
"""

from __future__ import annotations

import importlib
import inspect
import logging
from collections.abc import Iterable
from importlib.metadata import EntryPoint, entry_points
from types import ModuleType

from asyncml.authoring import TaskDefinition, TaskDefinitionError, definition_of

log = logging.getLogger(__name__)
GROUP = "asyncml.tasks"


class TaskLoadError(Exception):
    """An import string or entry point that does not give task classes."""


def _definitions_in(value: object, where: str) -> list[TaskDefinition]:
    if isinstance(value, ModuleType):
        found = [
            definition_of(obj)
            for _, obj in inspect.getmembers(value, inspect.isclass)
            if getattr(obj, "__asyncml_task__", None) is not None
            and obj.__module__ == value.__name__
            and definition_of(obj).cls is obj
        ]
        if not found:
            raise TaskLoadError(f"{where}: the module defines no @asyncml.task class")
        return found
    if isinstance(value, list | tuple):
        return [d for item in value for d in _definitions_in(item, where)]
    try:
        return [definition_of(value)]
    except TaskDefinitionError as exc:
        raise TaskLoadError(f"{where}: {exc}") from None


def load_import_string(spec: str) -> list[TaskDefinition]:
    """``module`` or ``module:attr`` -> the task definitions it names."""
    module_name, _, attr = spec.strip().partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise TaskLoadError(f"--tasks {spec!r}: cannot import {module_name!r} ({exc})") from exc
    except TaskDefinitionError as exc:
        raise TaskLoadError(f"--tasks {spec!r}: {exc}") from exc
    value: object = module
    for part in filter(None, attr.split(".")):
        try:
            value = getattr(value, part)
        except AttributeError:
            raise TaskLoadError(f"--tasks {spec!r}: {module_name} has no {attr!r}") from None
    return _definitions_in(value, f"--tasks {spec!r}")


def _load_entry_point(entry: EntryPoint) -> list[TaskDefinition]:
    where = f"entry point {entry.name!r} ({entry.value}) of {GROUP!r}"
    try:
        value = entry.load()
    except Exception as exc:  # a broken package: say which, keep the others
        raise TaskLoadError(f"{where}: cannot load it ({type(exc).__name__}: {exc})") from exc
    return _definitions_in(value, where)


def discover(
    import_strings: Iterable[str] = (), *, entry_points_too: bool = True
) -> list[TaskDefinition]:
    """Every task this process can serve, in a stable order (by name, then version).

    A broken entry point is logged and skipped, so one bad package does not take the others
    down; an import string given explicitly that fails raises ``TaskLoadError``. Two
    different classes claiming the same ``name@version`` raise ``TaskLoadError``.
    """
    found: list[TaskDefinition] = []
    if entry_points_too:
        for entry in entry_points(group=GROUP):
            try:
                found += _load_entry_point(entry)
            except TaskLoadError as exc:
                log.error("skipping tasks: %s", exc)
    for spec in import_strings:
        if spec.strip():
            found += load_import_string(spec)
    unique: dict[str, TaskDefinition] = {}
    for definition in found:
        seen = unique.get(definition.key)
        if seen is not None and seen.cls is not definition.cls:
            raise TaskLoadError(
                f"task {definition.key} is defined twice: by {_where(seen)} and by "
                f"{_where(definition)}; give one another name or version"
            )
        unique[definition.key] = definition
    return sorted(unique.values(), key=lambda d: (d.name, d.version))


def _where(definition: TaskDefinition) -> str:
    return f"{definition.cls.__module__}.{definition.cls.__qualname__}"


__all__ = ["GROUP", "TaskLoadError", "discover", "load_import_string"]
