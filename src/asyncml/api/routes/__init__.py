"""One router per resource.

Each module owns one resource's paths and stays thin: validate, call the job service,
answer. Must not import the worker, the store's scripts or Celery/kombu.
"""
