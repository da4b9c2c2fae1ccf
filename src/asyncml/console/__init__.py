"""The client side of the ``asyncml`` command: commands that talk to an API over HTTP
through the SDK (``asyncml.client``), never importing server code.

Must not import server, queue or model code: it is a client like any other.
"""

from __future__ import annotations

import click


def register(group: click.Group) -> None:
    """Add the client commands to the ``asyncml`` command group."""
    from asyncml.console.demo import demo
    from asyncml.console.jobs import cancel, jobs, status, submit, tasks, wait
    from asyncml.console.run import run

    for command in (submit, status, wait, cancel, jobs, tasks, run, demo):
        group.add_command(command)
