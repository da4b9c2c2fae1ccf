"""How long an audio file plays, read from as little of the file as the format allows.

    with open("speech.wav", "rb") as f:
        seconds = probe(f).duration

``probe`` takes any seekable binary file object (``ReadSeekable``), including a lazy remote
file that fetches byte ranges as they are read. No web, worker or store imports here.
"""

from ._io import ReadSeekable
from .info import AudioInfo
from .probe import probe, probe_path

__all__ = ["AudioInfo", "ReadSeekable", "probe", "probe_path"]
