"""``python -m tests.cluster up|down|run|drive``: the cluster, by hand or in one go.

- ``up``: the namespaces, bridge and links (no processes); ``down``: remove all of it,
  killing whatever runs inside, also after a crash (idempotent).
- ``run``: up, then ``drive`` on the client host, then down, always; prints the figures
  as JSON and exits 1 if any check failed.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import logging
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from tests.cluster.drive import HOSTS, drive
from tests.cluster.netns import Network, down
from tests.cluster.scenarios import SCENARIOS

LOCK = Path(tempfile.gettempdir()) / "asyncml-cluster.lock"


def failures(results: list[dict[str, Any]]) -> list[str]:
    """Every check a scenario failed, as a line naming it."""
    wrong = []
    for r in results:
        for key in ("lost", "duplicates", "5xx_not_503", "webhooks_missing",
                    "webhooks_over_limit", "not_executed_but_succeeded"):  # fmt: skip
            if r[key]:
                wrong.append(f"{r['broker']} {r['scenario']}: {key} = {r[key]}")
        if r["failed"] != sum(r["failure_codes"].values()):
            wrong.append(f"{r['broker']} {r['scenario']}: a failed job without an error code")
        if r["api_restarted"]:
            wrong.append(f"{r['broker']} {r['scenario']}: the API process exited")
    return wrong


def table(results: list[dict[str, Any]]) -> str:
    """The figures as the Markdown table of docs/reliability.md."""
    lines = [
        "| broker | scenario | fault s | jobs | succeeded | failed | executions "
        "| re-executed | lost | results twice | webhooks resent | 503s | other 5xx | no answer "
        "| heal s |",
        "|" + " --- |" * 15,
    ]
    for r in results:
        answers = r["answers"]
        served_503 = sum(n for key, n in answers.items() if key.endswith(" 503"))
        unanswered = sum(n for key, n in answers.items() if not key.split()[1].isdigit())
        cells = [r["broker"], r["scenario"], r["fault_s"], r["accepted"], r["succeeded"],
                 r["failed"], r["executions"], r["reexecuted"], r["lost"], r["duplicates"],
                 r["webhooks_resent"], served_503, r["5xx_not_503"], unanswered,
                 r["heal_s"]]  # fmt: skip
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.cluster")
    parser.add_argument("command", choices=["up", "down", "run", "drive"])
    parser.add_argument("--broker", action="append", choices=["rabbitmq", "redis"])
    parser.add_argument("--scenario", action="append", choices=sorted(SCENARIOS))
    parser.add_argument("--jobs", type=int, default=400, help="jobs per scenario")
    parser.add_argument("--hold", type=float, help="cap every fault at this many seconds")
    parser.add_argument("--dir", type=Path, help="logs and data (default: a temp dir)")
    parser.add_argument("--out", type=Path, help="write the figures here as JSON")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    # A SIGTERM (timeout, CI cancel) unwinds through the finally blocks that tear down.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    brokers = args.broker or ["rabbitmq", "redis"]
    names = args.scenario or list(SCENARIOS)
    if args.command == "down":
        print("removed:", " ".join(down()) or "nothing")
        return 0
    net = Network(HOSTS)
    if args.command == "up":
        net.up()
        return 0
    root = args.dir or Path(tempfile.mkdtemp(prefix="asyncml-cluster-"))
    if args.command == "drive":
        results = []
        for broker in brokers:
            results += drive(root, broker, names, args.jobs, args.hold)
        (root / "results.json").write_text(json.dumps(results, indent=1))
        return 0
    # One cluster per machine (the namespaces' names and addresses are fixed): a second run
    # waits for the first instead of tearing its cluster down.
    lock = open(LOCK, "w")  # noqa: SIM115
    fcntl.flock(lock, fcntl.LOCK_EX)
    try:
        net.up()
        forwarded = sys.argv[2:] if argv is None else argv[1:]
        command = [*net["client"].exec_prefix(), sys.executable, "-m", "tests.cluster",
                   "drive", *_without_dir(forwarded), "--dir", str(root)]  # fmt: skip
        subprocess.run(command, check=True)
    finally:
        net.down()
        lock.close()
    results = json.loads((root / "results.json").read_text())
    if args.out:
        args.out.write_text(json.dumps(results, indent=1))
    print(json.dumps(results, indent=1))
    print(table(results))
    wrong = failures(results)
    for line in wrong:
        print("FAILED:", line, file=sys.stderr)
    return 1 if wrong else 0


def _without_dir(args: list[str]) -> list[str]:
    out, skip = [], False
    for a in args:
        if skip:
            skip = False
            continue
        if a == "--dir":
            skip = True
            continue
        out.append(a)
    return out


if __name__ == "__main__":
    sys.exit(main())
