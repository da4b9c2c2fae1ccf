"""MP4/M4A: the first audio track's media header duration, read by mutagen.

mutagen's atom walk reads 8-byte atom headers and seeks over everything else (``mdat``
included), and its ``MP4Info`` reads only the ``hdlr``, ``mdhd`` and ``stsd`` atoms, where it
decodes the AAC/ALAC configuration for the true sample rate. ``mutagen.mp4.MP4`` itself is
not used because it also loads the tags, cover art included.

The duration counts encoder priming samples that an edit list may trim, so no exact frame
count is claimed.
"""

from __future__ import annotations

from mutagen.mp4 import MP4Info
from mutagen.mp4._atom import Atoms

from asyncml.errors import JobError, UnsupportedMediaError

from ._io import ReadSeekable
from .info import AudioInfo, audio_info

__all__ = ["probe_mp4"]


def probe_mp4(f: ReadSeekable) -> AudioInfo:
    try:
        atoms = Atoms(f)
        info = MP4Info(atoms, f)  # type: ignore[no-untyped-call]
    except JobError:
        raise  # the file object's own failures (download, size cap, deadline)
    except Exception as exc:
        # mutagen lets KeyError, struct.error and friends out of malformed files.
        raise UnsupportedMediaError("the MP4 file has no readable audio track") from exc
    length = float(info.length)
    sample_rate = int(info.sample_rate)
    channels = int(info.channels)
    if sample_rate == 0:
        raise UnsupportedMediaError("the MP4 file has no audio track")
    if length == 0 and any(atom.name == b"moof" for atom in atoms.atoms):
        raise UnsupportedMediaError("fragmented MP4 files are not supported")
    return audio_info("m4a", sample_rate=sample_rate, channels=channels, duration=length)
