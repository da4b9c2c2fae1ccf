"""The demo's local web server: the speech corpus and the results pages.

``/audio/<name>`` serves the corpus with HTTP Range support (``audio.length`` reads only
the header it needs); ``/euro/<DD-MM-YYYY>`` serves a results page. Anything else is 404,
which is exactly what a missing corpus file should answer.
"""

from __future__ import annotations

from pathlib import Path

from asyncml.localfiles import LocalFileServer


class DemoFileServer(LocalFileServer):
    def __init__(self, audio_dir: Path, euro_dir: Path, host: str = "127.0.0.1", port: int = 0):
        super().__init__(mounts={"audio": audio_dir, "euro": euro_dir}, host=host, port=port)
