"""Benchmark of the audio.gender model: CPU per job and x-realtime, one job at a time and in
batches, with the time split by stage (what a batch could share and what it cannot).

    python bench/gender.py                 # the committed fixtures, 4 s and 30 s clips
    python bench/gender.py --repeat 5 --json bench/results/gender.json

CPU time is this process's (``time.process_time``); the model runs one thread, so on an
idle machine it matches wall time. x-realtime = seconds of audio / CPU seconds.
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from asyncml.models.gender import GenderModel, prepare
from asyncml.models.gender.decode import decode
from asyncml.models.gender.features import summarise, track
from asyncml.models.gender.vad import speech_segments

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "gender"


def clips(long_seconds: float) -> list[tuple[str, bytes]]:
    """Each fixture as FLAC bytes, plus long clips made by joining them (as 16 kHz)."""
    out = [(p.name, p.read_bytes()) for p in sorted(FIXTURES.glob("*.flac"))]
    pieces = [prepare(*sf.read(io.BytesIO(data), dtype="float32")) for _, data in out]
    joined = np.concatenate(pieces)
    reps = int(np.ceil(long_seconds * 16000 / len(joined)))
    long = np.tile(joined, reps)[: int(long_seconds * 16000)]
    buf = io.BytesIO()
    sf.write(buf, long, 16000, format="FLAC")
    return [*out, (f"joined-{long_seconds:.0f}s.flac", buf.getvalue())]


def cpu(fn: Callable[[], Any], repeat: int) -> float:
    """Median CPU seconds of ``fn`` over ``repeat`` runs."""
    times = []
    for _ in range(repeat):
        start = time.process_time()
        fn()
        times.append(time.process_time() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--long", type=float, default=30.0, help="seconds of the long clip")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    start = time.process_time()
    model = GenderModel.load()
    load_s = time.process_time() - start
    data = clips(args.long)
    decoded = [decode(raw) for _, raw in data]
    seconds = [len(s) / r for s, r in decoded]
    short = [d for d, s in zip(decoded, seconds, strict=True) if s < 10]
    short_s = sum(s for s in seconds if s < 10)
    model.predict_batch(short)  # warm up

    rows: list[dict[str, Any]] = []

    def row(label: str, jobs: int, audio_s: float, cpu_s: float) -> None:
        rows.append(
            {
                "case": label,
                "jobs": jobs,
                "audio_s": round(audio_s, 2),
                "cpu_ms_per_job": round(1000 * cpu_s / jobs, 1),
                "x_realtime": round(audio_s / cpu_s, 1),
            }
        )

    # 1. Single jobs, as the worker runs them: decode + predict.
    for (name, raw), secs in zip(data, seconds, strict=True):
        row(
            f"single: {name}",
            1,
            secs,
            cpu(lambda raw=raw: model.predict(*decode(raw)), args.repeat),
        )
    # 2. The same short clips one by one versus as one batch.
    one_by_one = cpu(lambda: [model.predict(s, r) for s, r in short], args.repeat)
    row(f"{len(short)} short clips, one by one", len(short), short_s, one_by_one)
    for size in (4, len(short)):
        groups = [short[i : i + size] for i in range(0, len(short), size)]
        batched = cpu(lambda groups=groups: [model.predict_batch(g) for g in groups], args.repeat)
        row(f"{len(short)} short clips, batches of {size}", len(short), short_s, batched)

    # 3. Where the time goes, per stage, over the short clips.
    prepared = [prepare(s, r) for s, r in short]
    probs = [model.detector.probabilities(a) for a in prepared]
    segs = [speech_segments(p, total=a.size) for p, a in zip(probs, prepared, strict=True)]
    tracks = [track(a) for a in prepared]
    rows_x = np.array(
        [summarise(t, s).values for t, s in zip(tracks, segs, strict=True)]  # type: ignore[union-attr]
    )
    stages = {
        "decode (FLAC)": cpu(lambda: [decode(raw) for _, raw in data[: len(short)]], args.repeat),
        "prepare (mono, soxr to 16 kHz)": cpu(
            lambda: [prepare(s, r) for s, r in short], args.repeat
        ),
        "VAD (Silero, ONNX)": cpu(
            lambda: [model.detector.probabilities(a) for a in prepared], args.repeat
        ),
        "pitch + formants (Praat)": cpu(lambda: [track(a) for a in prepared], args.repeat),
        "classifier, one row at a time": cpu(
            lambda: [model.classifier.prob_male(r[None]) for r in rows_x], args.repeat
        ),
        "classifier, one matrix": cpu(lambda: model.classifier.prob_male(rows_x), args.repeat),
    }
    result = {
        "model_load_cpu_s": round(load_s, 3),
        "rows": rows,
        "stages_ms_per_clip": {k: round(1000 * v / len(short), 2) for k, v in stages.items()},
        "short_clip_mean_s": round(short_s / len(short), 2),
    }
    print(f"model load: {result['model_load_cpu_s']} s CPU")
    print(f"{'case':48s} {'jobs':>4s} {'audio s':>8s} {'CPU ms/job':>11s} {'x realtime':>10s}")
    for r in rows:
        print(
            f"{r['case']:48s} {r['jobs']:4d} {r['audio_s']:8.2f} {r['cpu_ms_per_job']:11.1f} "
            f"{r['x_realtime']:10.1f}"
        )
    print(f"stages, CPU ms per clip (clips of {result['short_clip_mean_s']} s on average):")
    for k, v in result["stages_ms_per_clip"].items():
        print(f"  {k:40s} {v:8.2f}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
