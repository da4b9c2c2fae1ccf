"""``asyncml flower``: Celery's Flower monitoring UI on asyncml's broker.

Flower ships in the ``ops`` extra (``pip install 'asyncml[ops]'``). It lists workers,
their queues and pools, and lets an operator shut one down or change its pool size; its task
views need Celery task events, which asyncml leaves off unless ``ASYNCML_TASK_EVENTS=true``
(every task then costs four more broker messages).
"""

from __future__ import annotations

import importlib.util
import logging

import click

log = logging.getLogger(__name__)


@click.command(context_settings={"ignore_unknown_options": True})
@click.option("--port", type=int, default=5555, show_default=True, help="Port to listen on.")
@click.option("--address", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.argument("flower_args", nargs=-1, type=click.UNPROCESSED)
def flower(port: int, address: str, flower_args: tuple[str, ...]) -> None:
    """Run Flower against asyncml's broker (needs the `ops` extra).

    Task views need ASYNCML_TASK_EVENTS=true on the workers and here (Flower then keeps
    events switched on in every worker). Other Flower options pass through, e.g.
    `asyncml flower --basic-auth=admin:secret` or, for RabbitMQ's queue view,
    `--broker-api=http://guest:guest@rabbit:15672/api/`.
    """
    from asyncml.runtime import configure_logging, ensure_embedded, load_settings
    from asyncml.worker import create_celery

    if importlib.util.find_spec("flower") is None:
        raise click.ClickException("Flower is not installed: pip install 'asyncml[ops]'")
    settings = load_settings()
    configure_logging(settings.log_level, settings.log_format)
    ensure_embedded(settings)
    if not settings.task_events:
        log.warning(
            "task events are off (ASYNCML_TASK_EVENTS=false): Flower shows workers and "
            "queues but no tasks"
        )
    app = create_celery(settings)
    events = "true" if settings.task_events else "false"
    argv = ["flower", f"--port={port}", f"--address={address}", f"--enable_events={events}"]
    app.start([*argv, *flower_args])
