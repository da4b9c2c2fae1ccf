"""asyncml: an asynchronous ML inference service.

The public surface (pinned by ``tests/unit/test_public_api.py``):

- serving a model: ``task`` (the class decorator), ``Context`` (what ``run`` gets as
  ``ctx``), ``TaskError`` (fail a job with a stable code), ``InputUrl`` (an input field
  that takes an http(s) URL, an uploaded file or a data: URI); ``asyncml.testing`` runs a
  task in-process for unit tests;
- calling asyncml: ``Client`` and ``AsyncClient`` (the SDK, over HTTP only);
- batching: ``Batch`` (``@asyncml.task(batch=...)``) and ``BatchContext`` (what
  ``run_batch`` gets as ``ctx``), for a task that runs many jobs in one call.
"""

from typing import TYPE_CHECKING

__version__ = "0.1.0"

if TYPE_CHECKING:  # type checkers see the real names; at run time they load on first use
    from asyncml.authoring import Context as Context
    from asyncml.authoring import TaskError as TaskError
    from asyncml.authoring import task as task
    from asyncml.batching import Batch as Batch
    from asyncml.batching import BatchContext as BatchContext
    from asyncml.client import AsyncClient as AsyncClient
    from asyncml.client import Client as Client
    from asyncml.schemas import InputUrl as InputUrl

_LAZY = {
    "Client": "asyncml.client",
    "AsyncClient": "asyncml.client",
    "Batch": "asyncml.batching",
    "BatchContext": "asyncml.batching",
    "task": "asyncml.authoring",
    "Context": "asyncml.authoring",
    "TaskError": "asyncml.authoring",
    "InputUrl": "asyncml.schemas",
}

__all__ = [
    "AsyncClient",
    "Batch",
    "BatchContext",
    "Client",
    "Context",
    "InputUrl",
    "TaskError",
    "__version__",
    "task",
]


def __getattr__(name: str) -> object:
    # Loaded on first use: ``import asyncml`` stays free of httpx and pydantic, the SDK never
    # loads server code, and a task module loads no client code.
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
