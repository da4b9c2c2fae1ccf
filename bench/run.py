"""Benchmark asyncml end to end, in the distributed and the embedded layout.

    python bench/run.py --harness PATH/TO/bench.py [--layouts distributed,embedded]
                        [--cases short,long,long200,formats,wait,sweep] [--out bench/results]

For each layout it starts one API process and one worker (concurrency 2, the original
proof of concept's process counts), then:

- short   500 jobs on the original's corpus shape (55 8 kHz WAVs, 3 missing), 8 concurrent
          submitters, 0.2 s polling: the asyncbench harness (``--harness``), which accounts
          CPU and peak RSS of the API and worker process trees;
- long    20 jobs on ten-minute 44.1 kHz stereo WAVs (harness), as the original was measured;
- long200 the same with 200 jobs: the steady rate on such files;
- formats 1 MB and 1 GB WAV (sparse), FLAC, Ogg Vorbis, MP3 with and without Xing frame,
          served with Range support: bytes fetched per job and time, through the API;
- wait    one user, closed loop: submit, then ``GET /v1/jobs/{id}?wait=`` (200 jobs);
- sweep   the short case paced at increasing offered rates, for the load plot.

It writes ``results.md`` (the tables), ``results.json`` and ``load.png`` into ``--out``.
Benchmarks, not tests: absolute figures drift on shared machines; compare runs side by side.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import redis
from report import plot, summary, write_report

from asyncml.localfiles import LocalFileServer

ROOT = Path(__file__).resolve().parent
AMQP = "amqp://guest:guest@127.0.0.1:5672//"
STORE_DB = 9


class Deployment:
    def __init__(
        self,
        layout: str,
        port: int,
        workdir: Path,
        worker_args: list[str] | None = None,
        src: Path | None = None,
    ) -> None:
        self.layout = layout
        self.url = f"http://127.0.0.1:{port}"
        env = {
            "ASYNCML_PORT": str(port),
            "ASYNCML_EGRESS_ALLOW": "127.0.0.1",
            "ASYNCML_LOG_LEVEL": "WARNING",
            "ASYNCML_DATA_DIR": str(workdir / "data"),
        }
        if layout == "distributed":
            redis.Redis(db=STORE_DB).flushdb()
            env |= {
                "ASYNCML_BROKER_URL": AMQP,
                "ASYNCML_STORE_URL": f"redis://127.0.0.1:6379/{STORE_DB}",
            }
        else:
            env |= {"ASYNCML_BROKER_URL": "", "ASYNCML_STORE_URL": ""}
        if src is not None:  # another checkout's code for the API and the worker
            env["PYTHONPATH"] = str(src.resolve())
        self.env = os.environ | env
        cmd = [sys.executable, "-m", "asyncml"]
        self.worker = subprocess.Popen(
            [*cmd, "worker", "--queues", "audio", "--concurrency", "2", *(worker_args or [])],
            env=self.env,
        )
        self._wait(lambda: (workdir / "data").exists() or layout == "distributed")
        self.api = subprocess.Popen([*cmd, "api"], env=self.env)
        self._wait(self._ready)

    def _ready(self) -> bool:
        try:
            return httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    @staticmethod
    def _wait(condition: Any, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise SystemExit("asyncml did not start")
            time.sleep(0.1)

    def pids(self) -> list[str]:
        """The processes whose CPU and memory count as the server's, as the baseline's did:
        API, worker, and the broker and store servers (shared ones include other clients)."""
        pids = [f"api={self.api.pid}", f"worker={self.worker.pid}"]
        if self.layout == "embedded":
            pid_file = Path(self.env["ASYNCML_DATA_DIR"]) / "valkey.pid"
            pids.append(f"valkey={int(pid_file.read_text())}")
        else:
            for label, pattern in (("rabbitmq", "beam.smp"), ("redis", "redis-server .*:6379")):
                found = subprocess.run(["pgrep", "-o", "-f", pattern], capture_output=True)
                if found.stdout.strip():
                    pids.append(f"{label}={int(found.stdout)}")
        return pids

    def stop(self) -> None:
        for proc in (self.api, self.worker):
            proc.send_signal(signal.SIGTERM)
        for proc in (self.api, self.worker):
            proc.wait(30)
        if self.layout == "embedded":
            from asyncml.embedded import EmbeddedServer
            from asyncml.settings import Settings

            s = Settings(data_dir=Path(self.env["ASYNCML_DATA_DIR"]))
            EmbeddedServer(s.data_dir, s.socket_path).stop()
        else:
            redis.Redis(db=STORE_DB).flushdb()


def harness(
    args: argparse.Namespace, dep: Deployment, name: str, extra: list[str]
) -> dict[str, Any]:
    out = args.out / f"{dep.layout}-{name}.json"
    cmd = [
        sys.executable,
        str(args.harness),
        "run",
        "--base-url",
        dep.url,
        *[f"--pid={p}" for p in dep.pids()],
        "--json-out",
        str(out),
        *extra,
    ]
    print(f"[{dep.layout}] {name}: {' '.join(extra)}", flush=True)
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    result: dict[str, Any] = json.loads(out.read_text())
    return result


def case_short(args: argparse.Namespace, dep: Deployment) -> dict[str, Any]:
    """The short-file burst, ``--repeat`` times; the run with the median throughput is the
    result, and every run's throughput and CPU per job are kept beside it (the spread)."""
    corpus = ["--corpus-dir", str(args.cache / "osr")]
    extra = ["-n", "500", "-c", "8", "--poll-interval", "0.2", "--warmup", "20", *corpus]
    runs = [harness(args, dep, f"short-{i + 1}", extra) for i in range(args.repeat)]
    runs.sort(key=lambda r: r["metrics"]["completion_throughput_jps"])
    median = dict(runs[len(runs) // 2])
    median["runs"] = [
        {
            "completed_jps": r["metrics"]["completion_throughput_jps"],
            "cpu_ms_per_job": r["metrics"]["server_cpu_ms_per_job"],
        }
        for r in runs
    ]
    return median


def _long_corpus(args: argparse.Namespace) -> list[str]:
    return [
        "--corpus",
        "long",
        "--long-seconds",
        "600",
        "--long-rate",
        "44100",
        "--long-channels",
        "2",
        "--long-files",
        "4",
        "--corpus-dir",
        str(args.cache / "long44"),
    ]


def case_long(args: argparse.Namespace, dep: Deployment) -> dict[str, Any]:
    """20 jobs on ten-minute 44.1 kHz stereo WAVs, as the original was measured: a run of
    about a tenth of a second, so it mostly shows how fast the first jobs come back."""
    extra = ["-n", "20", "-c", "4", "--poll-interval", "0.02", "--warmup", "2"]
    return harness(args, dep, "long", [*extra, *_long_corpus(args)])


def case_long200(args: argparse.Namespace, dep: Deployment) -> dict[str, Any]:
    """The same files and settings, 200 jobs: the steady rate on ten-minute files."""
    extra = ["-n", "200", "-c", "4", "--poll-interval", "0.02", "--warmup", "2"]
    return harness(args, dep, "long200", [*extra, *_long_corpus(args)])


def case_sweep(args: argparse.Namespace, dep: Deployment) -> list[dict[str, Any]]:
    rows = []
    for rate in (50, 100, 200, 400, 800):
        r = harness(
            args,
            dep,
            f"sweep-{rate}",
            [
                "-n",
                str(max(200, rate * 2)),
                "-c",
                "8",
                "--rate",
                str(rate),
                "--poll-interval",
                "0.02",
                "--corpus-dir",
                str(args.cache / "osr"),
            ],
        )
        rows.append({"offered_rps": rate, **summary(r)})
    return rows


def _formats_corpus(directory: Path) -> dict[str, float]:
    """Files and their true lengths; the large WAVs are sparse (a header, then zeros)."""
    sys.path.insert(0, str(ROOT.parent))
    from tests import audio_fixtures as fx

    directory.mkdir(parents=True, exist_ok=True)
    truth: dict[str, float] = {}
    for name, seconds in (("1mb.wav", 1_000_000 / 88_200), ("1gb.wav", 1_000_000_000 / 176_400)):
        rate, channels = (44100, 1) if name == "1mb.wav" else (44100, 2)
        frames = fx.make_sparse_wav(directory / name, seconds, rate, channels)
        truth[name] = frames / rate
    truth["speech.flac"] = fx.make_flac(directory / "speech.flac", 60, 16000) / 16000
    truth["speech.ogg"] = fx.make_ogg_vorbis(directory / "speech.ogg", 60, 16000) / 16000
    truth["vbr.mp3"] = fx.make_mp3(directory / "vbr.mp3", 30, 44100, 2) / 44100
    (directory / "vbr-noxing.mp3").write_bytes(fx.strip_xing((directory / "vbr.mp3").read_bytes()))
    truth["vbr-noxing.mp3"] = truth["vbr.mp3"]
    return truth


def case_formats(args: argparse.Namespace, dep: Deployment) -> list[dict[str, Any]]:
    truth = _formats_corpus(args.cache / "formats")
    rows = []
    with LocalFileServer(root=args.cache / "formats") as files, httpx.Client(base_url=dep.url) as c:
        for name, expected in truth.items():
            size = (args.cache / "formats" / name).stat().st_size
            times, fetched, lengths = [], [], []
            for _ in range(5):
                t0 = time.perf_counter()
                job = c.post(
                    "/v1/jobs",
                    json={"task": "audio.length", "input": {"url": f"{files.base_url}/{name}"}},
                ).json()
                done = c.get(f"/v1/jobs/{job['id']}", params={"wait": 60}, timeout=70).json()
                times.append(time.perf_counter() - t0)
                result = done.get("result") or {}
                fetched.append(result.get("bytes_fetched"))
                lengths.append(result.get("audio_length"))
            rows.append(
                {
                    "file": name,
                    "file_bytes": size,
                    "bytes_fetched": fetched[-1],
                    "length_s": lengths[-1],
                    "true_length_s": round(expected, 6),
                    "median_job_s": statistics.median(times),
                }
            )
    return rows


def case_wait(args: argparse.Namespace, dep: Deployment) -> dict[str, Any]:
    directory = args.cache / "formats"
    directory.mkdir(parents=True, exist_ok=True)
    sys.path.insert(0, str(ROOT.parent))
    from tests import audio_fixtures as fx

    fx.make_wav(directory / "short.wav", 3, 8000, 1)
    latencies = []
    with LocalFileServer(root=directory) as files, httpx.Client(base_url=dep.url) as c:
        body = {"task": "audio.length", "input": {"url": f"{files.base_url}/short.wav"}}
        for i in range(220):
            t0 = time.perf_counter()
            job = c.post("/v1/jobs", json=body).json()
            done = c.get(f"/v1/jobs/{job['id']}", params={"wait": 10}).json()
            assert done["status"] == "succeeded", done
            if i >= 20:
                latencies.append(time.perf_counter() - t0)
    q = statistics.quantiles(latencies, n=100)
    return {
        "jobs": len(latencies),
        "p50_ms": 1000 * q[49],
        "p95_ms": 1000 * q[94],
        "p99_ms": 1000 * q[98],
        "max_ms": 1000 * max(latencies),
    }


CASES = {
    "short": case_short,
    "long": case_long,
    "long200": case_long200,
    "formats": case_formats,
    "wait": case_wait,
    "sweep": case_sweep,
}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--harness",
        type=Path,
        default=os.environ.get("ASYNCBENCH"),
        help="the asyncbench harness bench.py (or $ASYNCBENCH); needs aiohttp",
    )
    parser.add_argument("--layouts", default="distributed,embedded")
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument("--out", type=Path, default=ROOT / "results")
    parser.add_argument("--port", type=int, default=5055)
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs of the short case (the median is shown)"
    )
    parser.add_argument(
        "--worker-args",
        default="",
        help="extra 'asyncml worker' options, e.g. '--pool prefork --concurrency 4' "
        "(default: concurrency 2, the original's, and the worker's default pool: solo on "
        "a Redis broker, prefork on RabbitMQ)",
    )
    parser.add_argument(
        "--src",
        type=Path,
        help="run the API and the worker from another checkout's src/ (e.g. a `git worktree` "
        "of an older commit) to compare it side by side with this one, same harness",
    )
    args = parser.parse_args()
    cases = [c for c in args.cases.split(",") if c]
    if any(c in ("short", "long", "sweep") for c in cases) and not args.harness:
        parser.error("--harness (or $ASYNCBENCH) is required for the short, long and sweep cases")
    args.out.mkdir(parents=True, exist_ok=True)
    args.cache = Path(tempfile.gettempdir()) / "asyncml-bench-cache"
    results: dict[str, Any] = {}
    worker_args = args.worker_args.split()
    for layout in args.layouts.split(","):
        with tempfile.TemporaryDirectory() as tmp:
            dep = Deployment(layout, args.port, Path(tmp), worker_args, args.src)
            label = f"{layout} ({args.worker_args})" if worker_args else layout
            if args.src is not None:
                label += f" [{args.src}]"
            try:
                results[label] = {c: CASES[c](args, dep) for c in cases}
            finally:
                dep.stop()
        write_report(args.out, results)
    plot(args.out, results)
    print((args.out / "results.md").read_text())


if __name__ == "__main__":
    main()
