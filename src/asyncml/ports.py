"""Claiming the API's listening port before anything else starts.

uvicorn binds only after the app's start-up has run: on a port already in use it logged
``[Errno 98]`` and then hung at "Waiting for application shutdown", ignoring SIGTERM, and
``asyncml up`` found another instance answering on that port and announced itself up. The
port is claimed (or found taken) here first, with a message a user can act on.
"""

from __future__ import annotations

import errno
import socket


class PortUnavailableError(Exception):
    """The API cannot listen on the configured host and port."""


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port``, as uvicorn would open it (SO_REUSEADDR, so a
    port in TIME_WAIT after a restart is fine), or PortUnavailableError."""
    where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise PortUnavailableError(f"cannot listen on {where}: {exc.strerror}") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        reason = (
            "the address is already in use (another asyncml, or another program, listens "
            "there); stop it or choose another port with --port or ASYNCML_PORT"
            if exc.errno == errno.EADDRINUSE
            else exc.strerror or str(exc)
        )
        raise PortUnavailableError(f"cannot listen on {where}: {reason}") from None
    return sock


def check_free(host: str, port: int) -> None:
    """PortUnavailableError unless ``host:port`` could be listened on right now."""
    bind(host, port).close()
