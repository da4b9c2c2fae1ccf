"""The local file server the integration tests download from (see asyncml.localfiles)."""

from __future__ import annotations

from pathlib import Path

from asyncml.localfiles import LocalFileServer


class FileServer(LocalFileServer):
    """Serves ``root``: static files with Range support, ``/euro/<DD-MM-YYYY>`` from
    ``root/euro/<date>.html``, and ``/slow/<seconds>/<path>`` answering after a delay."""

    def __init__(self, root: Path) -> None:
        super().__init__(root=root)
