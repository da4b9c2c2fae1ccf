"""The built-in tasks: plug-ins like any user's, declared in asyncml's own pyproject under
the ``asyncml.tasks`` entry-point group and written with the public API only
(``asyncml.task``, ``asyncml.Context``, ``asyncml.TaskError``).

One module per task: its input, its output and its class. Model code lives in
``asyncml.models``; nothing here imports the web or queue side. Only workers import these.

Each module is one task (input, output, class). Must not import ``asyncml.api``,
``asyncml.worker``, FastAPI, Celery or kombu.
"""
