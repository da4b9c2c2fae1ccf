"""HTTP side: FastAPI app factory, dependencies, one router per resource.

Owns the HTTP edge: ``create_app``, one router per resource (``routes/``), the job
service the routes share, request limits, and the one place errors become answers
(``problems``). Must not import ``asyncml.worker``, task or model code, or Celery/kombu
(it publishes by task name; ``tests/unit/test_imports.py`` keeps the rules).
"""

from asyncml.api.app import create_app

__all__ = ["create_app"]
