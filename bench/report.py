"""The tables and the load plot that ``bench/run.py`` writes."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any


def summary(result: dict[str, Any]) -> dict[str, Any]:
    """The figures of one harness run (its ``--json-out``) that the tables show."""
    r = result.get("metrics", result)
    cpu = r.get("server_cpu") or {}
    lat = r.get("latency_s") or {}
    runs = result.get("runs") or []
    return {
        "runs": runs,
        "submit_rps": r.get("submit_throughput_rps"),
        "completed_jps": r.get("completion_throughput_jps"),
        "p50_s": lat.get("p50"),
        "p95_s": lat.get("p95"),
        "p99_s": lat.get("p99"),
        "lost": r.get("unfinished"),
        "failures": r.get("failures"),
        "correct": (r.get("correctness") or {}).get("correct_success"),
        "wrong_length": (r.get("correctness") or {}).get("wrong_length"),
        "cpu_ms_per_job": r.get("server_cpu_ms_per_job"),
        "cpu_ms_per_job_by_process": {
            k: 1000 * (v.get("cpu_s_per_job") or 0) for k, v in cpu.items()
        },
        "peak_rss_mb": {k: v.get("peak_rss_mb") for k, v in cpu.items()},
        "polls_per_job": r.get("polls_per_job"),
    }


# The original proof of concept on this kind of machine (the harness's BASELINE.md, its
# variant (b) without the sleep): completed jobs/s and server CPU ms per job.
BASELINE = {"short": (185.0, 8.2), "long": (2.74, None), "long200": (2.74, None)}


def _vs_original(case: str, s: dict[str, Any]) -> str:
    jps, cpu = BASELINE[case]
    parts = []
    if s["completed_jps"]:
        parts.append(f"{s['completed_jps'] / jps:.1f}x jobs/s")
    if cpu and s["cpu_ms_per_job"]:
        parts.append(f"{s['cpu_ms_per_job'] / cpu:.2f}x CPU")
    return ", ".join(parts) or "-"


def _fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    if isinstance(value, dict):
        return ", ".join(f"{k} {_fmt(v, digits)}" for k, v in value.items()) or "-"
    return str(value)


def write_report(out: Path, results: dict[str, Any]) -> None:
    lines = [
        "# asyncml benchmark results",
        "",
        f"Taken {time.strftime('%Y-%m-%d %H:%M')} with "
        "`python bench/run.py`; one API process, one worker with concurrency 2 (the "
        "original's process counts) and its default pool: solo on the embedded layout's "
        "Redis broker, prefork on RabbitMQ (distributed), unless the layout says otherwise. "
        "Original: 185 jobs/s and 8.2 ms/job (short), 2.74 jobs/s (long).",
        "",
    ]
    lines += [
        "| layout | case | submit req/s | completed jobs/s | latency p50/p95/p99 (s) | lost "
        "| wrong | server CPU ms/job (by process) | polls/job | peak RSS MB | vs original |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for layout, cases in results.items():
        for case in ("short", "long", "long200"):
            if case in cases:
                s = summary(cases[case])
                lines.append(
                    f"| {layout} | {case} | {_fmt(s['submit_rps'])} | {_fmt(s['completed_jps'])} | "
                    f"{_fmt(s['p50_s'], 3)} / {_fmt(s['p95_s'], 3)} / {_fmt(s['p99_s'], 3)} | "
                    f"{s['lost']} | {s['wrong_length']} | {_fmt(s['cpu_ms_per_job'], 2)} "
                    f"({_fmt(s['cpu_ms_per_job_by_process'], 2)}) | {_fmt(s['polls_per_job'], 2)} "
                    f"| {_fmt(s['peak_rss_mb'], 0)} | {_vs_original(case, s)} |"
                )
    spreads = [
        f"{layout}: "
        + "; ".join(
            f"{run['completed_jps']:.0f} jobs/s at {run['cpu_ms_per_job']:.2f} ms" for run in runs
        )
        for layout, cases in results.items()
        if len(runs := summary(cases.get("short") or {})["runs"]) > 1
    ]
    if spreads:
        lines += [
            "",
            "Short case, every run (the table shows the median): " + " | ".join(spreads) + ".",
        ]
    for layout, cases in results.items():
        if "formats" in cases:
            lines += [
                "",
                f"## Bytes fetched per job ({layout})",
                "",
                "| file | file bytes | bytes fetched | length (s) | true length (s) "
                "| median job (s) |",
                "| --- | --- | --- | --- | --- | --- |",
            ]
            for row in cases["formats"]:
                lines.append(
                    f"| {row['file']} | {row['file_bytes']:,} | {row['bytes_fetched']:,} | "
                    f"{_fmt(row['length_s'], 4)} | {_fmt(row['true_length_s'], 4)} | "
                    f"{_fmt(row['median_job_s'], 4)} |"
                )
        if "wait" in cases:
            w = cases["wait"]
            lines += [
                "",
                f"Closed loop, one user, `?wait=` ({layout}): {w['jobs']} jobs, "
                f"p50 {w['p50_ms']:.1f} ms, p95 {w['p95_ms']:.1f} ms, p99 {w['p99_ms']:.1f} ms.",
            ]
    (out / "results.md").write_text("\n".join(lines) + "\n")
    (out / "results.json").write_text(json.dumps(results, indent=2, default=str))


def plot(out: Path, results: dict[str, Any]) -> None:
    if not any(cases.get("sweep") for cases in results.values()):
        return
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed (pip install 'asyncml[bench]'): no plot")
        return
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    for layout, cases in results.items():
        rows = cases.get("sweep")
        if not rows:
            continue
        x = [r["offered_rps"] for r in rows]
        ax1.plot(x, [r["completed_jps"] for r in rows], marker="o", label=layout)
        ax2.plot(x, [r["p50_s"] * 1000 for r in rows], marker="o", label=f"{layout} p50")
        ax2.plot(x, [r["p99_s"] * 1000 for r in rows], marker="x", ls="--", label=f"{layout} p99")
    ax1.axhline(BASELINE["short"][0], ls=":", color="gray", label="original, best case")
    ax1.set(xlabel="offered load (jobs/s)", ylabel="completed jobs/s", title="throughput")
    ax2.set(
        xlabel="offered load (jobs/s)",
        ylabel="submit → result (ms)",
        title="latency (polled every 20 ms)",
        yscale="log",
    )
    for ax in (ax1, ax2):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(out / "load.png", dpi=110)
