"""Celery side: the app factory, the job task base class, one module per queue."""

from asyncml.worker.app import create_celery

__all__ = ["create_celery"]
