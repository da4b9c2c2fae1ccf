"""HTTP side: FastAPI app factory, dependencies, one router per resource."""

from asyncml.api.app import create_app

__all__ = ["create_app"]
