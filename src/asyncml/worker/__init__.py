"""Celery side: the app factory, the job task base class, one module per queue.

Owns what runs in a worker process: the Celery app and its configuration, the task base
class, batching, retries, the sweeper and republisher, and the webhook delivery task.
The only package besides ``queue/`` that imports Celery and kombu; it must not import
``asyncml.api``.
"""

from asyncml.worker.app import create_celery

__all__ = ["create_celery"]
