"""The demo's speech corpus: files named like the Open Speech Repository's American English
ones (``OSR_us_000_00NN_8k.wav``), NN from 10 to 64 as the original client asked for, some
of them missing as on the real site, so that those jobs fail with an HTTP 404.

Speech comes from espeak-ng when it is installed (two Harvard sentences per file, female
and male voices alternating, resampled to 8 kHz like the originals); otherwise from a
synthetic stand-in: a voiced buzz at a female or male pitch with syllable-like pulses.
Files are 16-bit mono WAV, written with the standard library only, and cached.
"""

from __future__ import annotations

import json
import math
import random
import shutil
import subprocess
import tempfile
import wave
from array import array
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from math import gcd
from operator import mul
from pathlib import Path
from typing import Any

NUMBERS = range(10, 65)
# The original client asked for 10..64; the repository's listing has gaps. These are missing.
MISSING = frozenset({*range(20, 30), 33, *range(62, 65)})
RATE = 8000
VERSION = 1  # bump when the generated audio changes, to refresh caches
ESPEAK = "espeak-ng"

# Harvard sentences, lists 1 and 2 (IEEE 1969), as the Open Speech Repository reads them.
SENTENCES = (
    "The birch canoe slid on the smooth planks.",
    "Glue the sheet to the dark blue background.",
    "It's easy to tell the depth of a well.",
    "These days a chicken leg is a rare dish.",
    "Rice is often served in round bowls.",
    "The juice of lemons makes fine punch.",
    "The box was thrown beside the parked truck.",
    "The hogs were fed chopped corn and garbage.",
    "Four hours of steady work faced us.",
    "A large size in stockings is hard to sell.",
    "The boy was there when the sun rose.",
    "A rod is used to catch pink salmon.",
    "The source of the huge river is the clear spring.",
    "Kick the ball straight and follow through.",
    "Help the woman get back to her feet.",
    "A pot of tea helps to pass the evening.",
    "Smoky fires lack flame and heat.",
    "The soft cushion broke the man's fall.",
    "The salt breeze came across from the sea.",
    "The girl at the booth sold fifty bonds.",
)


@dataclass(frozen=True)
class SpeechFile:
    number: int
    voice: str  # "female" or "male": how the file was synthesized
    text: str

    @property
    def name(self) -> str:
        return f"OSR_us_000_{self.number:04d}_8k.wav"

    @property
    def present(self) -> bool:
        return self.number not in MISSING


def catalogue() -> list[SpeechFile]:
    files = []
    for n in NUMBERS:
        first = (2 * n) % len(SENTENCES)
        text = f"{SENTENCES[first]} {SENTENCES[first + 1]}"
        files.append(SpeechFile(n, "female" if n % 2 == 0 else "male", text))
    return files


@dataclass(frozen=True)
class Corpus:
    directory: Path
    kind: str  # "espeak-ng" or "synthetic"
    files: list[SpeechFile]
    note: str  # how it was made, for the user
    cached: bool
    lengths: dict[str, float]  # seconds, per file name, as written


# ---- audio ---------------------------------------------------------------------------------


def _numpy() -> Any:
    """numpy when it is installed (it is an asyncml dependency), else ``None``: the
    pure-Python paths below do the same work more slowly."""
    try:
        import numpy
    except ImportError:  # pragma: no cover - exercised by forcing None in the tests
        return None
    return numpy


def write_wav(path: Path, samples: Sequence[float], rate: int = RATE) -> None:
    np = _numpy()
    if np is None:
        pcm = array("h", (max(-32768, min(32767, int(s))) for s in samples)).tobytes()
    else:
        pcm = np.clip(np.asarray(samples), -32768, 32767).astype("<i2").tobytes()
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm)


def read_wav(path: Path) -> tuple[array[int], int]:
    with wave.open(str(path), "rb") as wav:
        if wav.getsampwidth() != 2:
            raise ValueError(f"{path}: expected 16-bit samples")
        frames = array("h", wav.readframes(wav.getnframes()))
        channels, rate = wav.getnchannels(), wav.getframerate()
    mono = frames if channels == 1 else array("h", frames[::channels])
    return mono, rate


def _kernels(up: int, cutoff: float, half_taps: int) -> list[list[float]]:
    """One windowed-sinc low-pass kernel per fractional position ``phase / up``."""
    kernels = []
    for phase in range(up):
        frac = phase / up
        taps = []
        for j in range(-half_taps + 1, half_taps + 1):
            x = j - frac
            arg = 2 * math.pi * cutoff * x
            sinc = 2 * cutoff * (1.0 if x == 0 else math.sin(arg) / arg)
            window = 0.5 + 0.5 * math.cos(math.pi * x / half_taps)
            taps.append(sinc * window)
        total = sum(taps)
        kernels.append([t / total for t in taps])
    return kernels


def resample(samples: Sequence[int], source: int, target: int, half_taps: int = 16) -> list[float]:
    """Windowed-sinc resampling with a low-pass just under the new Nyquist frequency: each
    output sample is the dot product of its neighbourhood with one precomputed kernel."""
    if source == target:
        return [float(s) for s in samples]
    g = gcd(source, target)
    up, down = target // g, source // g
    kernels = _kernels(up, 0.45 * min(1.0, target / source), half_taps)
    count = len(samples) * up // down
    taps = 2 * half_taps
    np = _numpy()
    if np is None:
        padded = [0.0] * half_taps + [float(s) for s in samples] + [0.0] * (half_taps + 1)
        out = []
        for k in range(count):
            position, phase = divmod(k * down, up)
            start = position + 1  # padded index of input sample position - half_taps + 1
            out.append(sum(map(mul, kernels[phase], padded[start : start + taps])))
        return out
    padded_np = np.concatenate(
        [np.zeros(half_taps), np.asarray(samples, dtype=float), np.zeros(half_taps + 1)]
    )
    positions, phases = np.divmod(np.arange(count) * down, up)
    windows = padded_np[positions[:, None] + 1 + np.arange(taps)[None, :]]
    result: list[float] = (windows * np.asarray(kernels)[phases]).sum(axis=1).tolist()
    return result


def espeak_available() -> bool:
    return shutil.which(ESPEAK) is not None


def speak(file: SpeechFile, path: Path) -> float:
    """Synthesize ``file`` with espeak-ng, resample to 8 kHz, write it; its length in s."""
    variant = f"f{1 + file.number % 4}" if file.voice == "female" else f"m{1 + file.number % 7}"
    speed = str(150 + (file.number * 7) % 25)
    with tempfile.TemporaryDirectory(prefix="asyncml-espeak-") as tmp:
        raw = Path(tmp) / "speech.wav"
        subprocess.run(
            [ESPEAK, "-v", f"en-us+{variant}", "-s", speed, "-w", str(raw), file.text],
            check=True,
            capture_output=True,
            timeout=60,
        )
        samples, rate = read_wav(raw)
    converted = resample(samples, rate, RATE)
    write_wav(path, converted)
    return len(converted) / RATE


def synthesize(file: SpeechFile, path: Path) -> float:
    """A stand-in for speech: a buzz at a typical female or male pitch, in syllable pulses."""
    rng = random.Random(file.number)
    pitch = (205.0 if file.voice == "female" else 115.0) + rng.uniform(-10, 10)
    syllables = rng.uniform(3.5, 5.0)  # pulses per second
    count = int((2.5 + rng.uniform(0, 2.5)) * RATE)
    noise_seed = rng.randrange(2**32)

    def at(t: float, phase: float) -> float:
        voiced = sum(math.sin(2 * math.pi * h * phase) / h for h in range(1, 9))
        return 6000 * voiced * max(0.0, math.sin(math.pi * syllables * t)) ** 2

    np = _numpy()
    if np is None:
        noise = random.Random(noise_seed)
        samples, phase = [], 0.0
        for n in range(count):
            t = n / RATE
            phase += pitch * (1 + 0.03 * math.sin(2 * math.pi * 5 * t)) / RATE
            samples.append(at(t, phase) + noise.gauss(0, 150))
    else:
        t = np.arange(count) / RATE
        phase = np.cumsum(pitch * (1 + 0.03 * np.sin(2 * np.pi * 5 * t)) / RATE)
        voiced = sum(np.sin(2 * np.pi * h * phase) / h for h in range(1, 9))
        envelope = np.maximum(0.0, np.sin(np.pi * syllables * t)) ** 2
        noise_np = np.random.default_rng(noise_seed).normal(0, 150, count)
        samples = (6000 * voiced * envelope + noise_np).tolist()
    write_wav(path, samples)
    return count / RATE


# ---- the cached corpus ------------------------------------------------------------------


def _cached(directory: Path, files: list[SpeechFile]) -> dict[str, float] | None:
    """The lengths recorded by a complete earlier run, if there is one."""
    try:
        manifest = json.loads((directory / "manifest.json").read_text())
    except (OSError, ValueError):
        return None
    if manifest.get("version") != VERSION:
        return None
    lengths = manifest.get("lengths") or {}
    if all(f.name in lengths and (directory / f.name).is_file() for f in files if f.present):
        return {str(k): float(v) for k, v in lengths.items()}
    return None


def prepare(
    cache: Path,
    *,
    synthetic: bool = False,
    on_file: Callable[[SpeechFile], None] | None = None,
) -> Corpus:
    """The corpus under ``cache`` (made on first use): espeak-ng speech where possible."""
    files = catalogue()
    if synthetic:
        kind, make, note = "synthetic", synthesize, "synthetic voiced tones (--synthetic)"
    elif espeak_available():
        kind, make, note = "espeak-ng", speak, "speech synthesized with espeak-ng, 8 kHz"
    else:
        kind, make = "synthetic", synthesize
        note = (
            "espeak-ng is not installed, so the corpus is synthetic voiced tones rather than "
            "speech (for speech: apt-get install espeak-ng, then run the demo again)"
        )
    directory = cache / kind
    if (known := _cached(directory, files)) is not None:
        return Corpus(directory, kind, files, note, cached=True, lengths=known)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "manifest.json").unlink(missing_ok=True)
    lengths: dict[str, float] = {}
    for file in files:
        if not file.present:
            (directory / file.name).unlink(missing_ok=True)
            continue
        if on_file is not None:
            on_file(file)
        lengths[file.name] = make(file, directory / file.name)
    manifest = {"version": VERSION, "kind": kind, "rate": RATE, "lengths": lengths}
    # Written last: a run stopped half-way leaves no manifest and is redone next time.
    (directory / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return Corpus(directory, kind, files, note, cached=False, lengths=lengths)
