"""asyncml: an asynchronous ML inference service."""

__version__ = "0.1.0"
