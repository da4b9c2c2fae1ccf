"""asyncml: an asynchronous ML inference service."""

from typing import TYPE_CHECKING

__version__ = "0.1.0"

if TYPE_CHECKING:  # type checkers see the real classes; at run time they load on first use
    from asyncml.client import AsyncClient as AsyncClient
    from asyncml.client import Client as Client


def __getattr__(name: str) -> object:
    # The SDK on first use only: ``import asyncml`` stays free of httpx for the server side,
    # and ``asyncml.Client`` never loads server code.
    if name in ("Client", "AsyncClient"):
        import asyncml.client

        return getattr(asyncml.client, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
