"""Model code: plain Python inference, no FastAPI or Celery imports.

Owns the inference code itself, testable alone. Must not import ``asyncml.api``,
``asyncml.worker``, FastAPI, Celery or kombu.
"""
