"""Measure ``audio.transcribe``'s models and write ``docs/models/transcribe-report.{md,json}``.

    apt-get install -y pocketsphinx-testdata tuxpaint-stamps-default \\
        fillets-ng-data-cs fillets-ng-data-nl
    pip install -e '.[speech,train]'
    nice python scripts/transcribe_report.py      # a few minutes on 2 cores

- Word error rate of each bundled model on the five LibriVox utterances of Debian's
  ``pocketsphinx-testdata``, against their transcripts (jiwer, after a small normaliser:
  lower case, no punctuation, "mr" -> "mister");
- language identification (the multilingual model) on real speech of known language: the
  Tux Paint stamp descriptions (one speaker a language) and Fish Fillets dialogue (two
  voices a language), clips of at least 10 s, per language;
- real-time factor (seconds of compute per second of audio) and the peak memory (RSS) of a
  process that loads the model and transcribes, as a worker process does.

Everything runs through the package's own code (``asyncml.models.speech``).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import soxr

sys.path.insert(0, str(Path(__file__).resolve().parent))

import real_speech

from asyncml.models.speech.audio import RATE, decode
from asyncml.models.speech.bundled import model_dir
from asyncml.models.speech.whisper import Transcriber

REPO = Path(__file__).resolve().parent.parent
DOCS = REPO / "docs" / "models"
LIBRIVOX = Path("/usr/share/pocketsphinx/test/data/librivox")
LID_PACKAGES = ("tuxpaint-stamps-default", "fillets-ng-data-cs", "fillets-ng-data-nl")

MEMORY_PROBE = """
import resource, sys
from pathlib import Path
from asyncml.models.speech.audio import decode
from asyncml.models.speech.bundled import model_dir
from asyncml.models.speech.whisper import Transcriber
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t = Transcriber(model_dir(sys.argv[1], cache=Path(sys.argv[2])), cpu_threads=int(sys.argv[3]))
audio, _ = decode(Path(sys.argv[4]).read_bytes(), max_seconds=600)
t.transcribe(audio)
print(before // 1024, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)
"""


def normalise(text: str) -> str:
    text = re.sub(r"[^\w\s']", " ", text.lower())
    words = ["mister" if w == "mr" else "missus" if w == "mrs" else w for w in text.split()]
    return " ".join(words)


def librivox() -> list[tuple[str, Path, str]]:
    refs = {}
    for line in (LIBRIVOX / "transcription").read_text().splitlines():
        m = re.match(r"<s>(.*)</s>\s*\((.*)\)", line.strip())
        if m:
            refs[m.group(2)] = m.group(1).strip()
    return [(k, LIBRIVOX / f"{k}.wav", v) for k, v in sorted(refs.items())]


def word_error_rate(t: Transcriber, threads: int) -> dict[str, Any]:
    import jiwer

    rows, refs, hyps, clips = [], [], [], []
    for name, path, ref in librivox():
        audio, _ = decode(path.read_bytes(), max_seconds=600)
        clips.append(audio)
        out, wall, cpu = _timed(t, audio)
        refs.append(normalise(ref))
        hyps.append(normalise(out.text))
        rows.append(
            {
                "utterance": name,
                "seconds": out.duration,
                "reference": ref,
                "hypothesis": out.text,
                "wer": round(jiwer.wer(refs[-1], hyps[-1]), 4),
                "rtf": round(wall / out.duration, 3),
                "cpu_rtf": round(cpu / out.duration, 3),
            }
        )
    # Whisper pads every window to 30 s, so short clips cost more per second: the five
    # utterances joined into one clip show the cost of a full window.
    joined = np.concatenate([np.concatenate([c, np.zeros(RATE // 2, np.float32)]) for c in clips])
    out, wall, cpu = _timed(t, joined)
    joined_wer = jiwer.wer(" ".join(refs), normalise(out.text))
    return {
        "wer": round(jiwer.wer(refs, hyps), 4),
        "rtf": round(
            sum(r["rtf"] * r["seconds"] for r in rows) / sum(r["seconds"] for r in rows), 3
        ),
        "cpu_rtf": round(
            sum(r["cpu_rtf"] * r["seconds"] for r in rows) / sum(r["seconds"] for r in rows), 3
        ),
        "joined": {
            "seconds": out.duration,
            "wer": round(joined_wer, 4),
            "rtf": round(wall / out.duration, 3),
            "cpu_rtf": round(cpu / out.duration, 3),
        },
        "threads": threads,
        "utterances": rows,
    }


def _timed(t: Transcriber, audio: np.ndarray) -> tuple[Any, float, float]:
    """The transcript, wall seconds and CPU seconds (this process, all threads)."""
    wall, cpu = time.perf_counter(), time.process_time()
    out = t.transcribe(audio)
    return out, time.perf_counter() - wall, time.process_time() - cpu


def language_clips(per_speaker: int) -> list[tuple[str, str, np.ndarray]]:
    """(language, speaker, 16 kHz audio) of real speech whose language the package says."""
    out = []
    for who in real_speech.speakers():
        if who.package not in LID_PACKAGES:
            continue
        lang = who.speaker.split("-")[1]  # tuxpaint-fr, fillets-cs-small-fish
        for clip in real_speech.clips(who, min_seconds=10.0, max_clips=per_speaker):
            out.append((lang, who.speaker, soxr.resample(clip.samples, clip.rate, RATE)))
    return out


def language_id(t: Transcriber, clips: list[tuple[str, str, np.ndarray]]) -> dict[str, Any]:
    per: dict[str, dict[str, Any]] = {}
    for lang, speaker, audio in clips:
        ranked = t.identify(audio)
        said = ranked[0][0]
        row = per.setdefault(lang, {"clips": 0, "right": 0, "said": {}, "speakers": []})
        row["clips"] += 1
        row["right"] += said == lang
        row["said"][said] = row["said"].get(said, 0) + 1
        if speaker not in row["speakers"]:
            row["speakers"].append(speaker)
    for row in per.values():
        row["accuracy"] = round(row["right"] / row["clips"], 3)
    total = sum(r["clips"] for r in per.values())
    right = sum(r["right"] for r in per.values())
    return {"accuracy": round(right / total, 3), "clips": total, "per_language": per}


def memory(name: str, cache: Path, threads: int) -> dict[str, int]:
    path = librivox()[0][1]
    done = subprocess.run(
        [sys.executable, "-c", MEMORY_PROBE, name, str(cache), str(threads), str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    before, peak = (int(v) for v in done.stdout.split())
    return {"rss_before_model_mb": before, "peak_rss_mb": peak}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cache", type=Path, default=Path("/tmp/asyncml-speech"))
    parser.add_argument("--threads", type=int, default=1, help="as ASYNCML_SPEECH_THREADS")
    parser.add_argument("--lid-clips", type=int, default=5, help="clips per speaker")
    args = parser.parse_args()
    results: dict[str, Any] = {"command": " ".join(["python", *sys.argv]), "models": {}}
    clips = language_clips(args.lid_clips)
    for name in ("tiny.en", "base"):
        directory = model_dir(name, cache=args.cache)
        started = time.perf_counter()
        t = Transcriber(directory, cpu_threads=args.threads)
        entry: dict[str, Any] = {"load_s": round(time.perf_counter() - started, 2)}
        entry["librivox"] = word_error_rate(t, args.threads)
        print(name, "WER", entry["librivox"]["wer"], entry["librivox"]["joined"], flush=True)
        if t.multilingual:
            entry["language_id"] = language_id(t, clips)
            print(name, "language id", entry["language_id"]["accuracy"], flush=True)
        entry["memory"] = memory(name, args.cache, args.threads)
        results["models"][name] = entry
        del t
    DOCS.mkdir(parents=True, exist_ok=True)
    (DOCS / "transcribe-report.json").write_text(json.dumps(results, indent=1) + "\n")
    (DOCS / "transcribe-report.md").write_text(markdown(results))


def markdown(r: dict[str, Any]) -> str:
    lines = [
        "# audio.transcribe: evaluation report",
        "",
        f"Written by `{r['command']}` on a shared 2-core machine; do not edit by hand.",
        "Real-time factor (RTF): seconds per second of audio, wall clock and CPU time of "
        "the process, int8 on the CPU, beam size 5; wall time depends on what else the "
        "shared machine ran, CPU time much less. Whisper pads every window to 30 s, so "
        "3-7 s utterances cost more per second than the 25 s of the five joined. Memory: "
        "peak RSS of a process that loads the model and transcribes one utterance; a whole "
        "worker (supervisor, Celery, the fetch) is measured by `bench/speech_worker.py`.",
        "",
        "| model | load (s) | LibriVox WER | RTF, utterances (CPU) | RTF, joined 25 s (CPU) "
        "| threads | peak RSS (MB) |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, e in r["models"].items():
        lv = e["librivox"]
        lines.append(
            f"| {name} | {e['load_s']} | {lv['wer']} | {lv['rtf']} ({lv['cpu_rtf']}) | "
            f"{lv['joined']['rtf']} ({lv['joined']['cpu_rtf']}) | {lv['threads']} | "
            f"{e['memory']['peak_rss_mb']} |"
        )
    for name, e in r["models"].items():
        lines += ["", f"## {name}: LibriVox utterances (pocketsphinx-testdata)", ""]
        lines += ["| utterance | s | WER | RTF (CPU) | transcript |", "|---|---|---|---|---|"]
        for u in e["librivox"]["utterances"]:
            lines.append(
                f"| {u['utterance'][-4:]} | {u['seconds']} | {u['wer']} | {u['rtf']} "
                f"({u['cpu_rtf']}) | {u['hypothesis']} |"
            )
        joined = e["librivox"]["joined"]
        lines += ["", f"The five joined ({joined['seconds']} s): WER {joined['wer']}."]
        lid = e.get("language_id")
        if lid:
            lines += [
                "",
                f"## {name}: language identification, {lid['clips']} clips of 10 s or more",
                "",
                f"Top-1 accuracy {lid['accuracy']}.",
                "",
                "| language | speakers | clips | accuracy | said |",
                "|---|---|---|---|---|",
            ]
            for lang, row in sorted(lid["per_language"].items()):
                said = ", ".join(f"{k} {v}" for k, v in sorted(row["said"].items()))
                lines.append(
                    f"| {lang} | {', '.join(row['speakers'])} | {row['clips']} | "
                    f"{row['accuracy']} | {said} |"
                )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
