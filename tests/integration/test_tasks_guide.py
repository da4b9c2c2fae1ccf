"""docs/tasks.md, followed word for word in a fresh environment, serves a new task.

The guide's fenced blocks are its script: a block with ``title="<path>"`` is a file to
write; a ``bash`` block is commands to type, one per line (``cd`` moves on); a ``bash``
block titled ``terminal 1`` is a command left running while the rest go on. ``text``
blocks are shown, not run (they need a distributed deployment).
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
from pathlib import Path

import pytest

from tests.integration.stack import wait_for
from tests.integration.venvs import clean_env, overlay_venv

pytestmark = pytest.mark.integration
GUIDE = Path(__file__).resolve().parents[2] / "docs" / "tasks.md"
FENCE = re.compile(r"^```(\w+)(?: title=\"([^\"]+)\")?\n(.*?)^```", re.M | re.S)


def test_the_guide_serves_a_new_task_word_for_word(tmp_path: Path) -> None:
    bin_dir = overlay_venv(tmp_path / "venv")
    env = clean_env(bin_dir, tmp_path, ASYNCML_LOG_LEVEL="WARNING")
    cwd = tmp_path
    background: list[subprocess.Popen[bytes]] = []
    outputs: list[str] = []
    blocks = FENCE.findall(GUIDE.read_text())
    assert sum(1 for lang, _, _ in blocks if lang == "bash") >= 4
    try:
        for lang, title, body in blocks:
            if lang == "text":
                continue
            if lang != "bash":
                assert title, f"a {lang} block without a file name: {body[:60]!r}"
                (cwd / title).parent.mkdir(parents=True, exist_ok=True)
                (cwd / title).write_text(body)
                continue
            for line in filter(None, (raw.strip() for raw in body.splitlines())):
                words = shlex.split(line)
                if words[0] == "mkdir" and "&&" in words:
                    (cwd / words[1]).mkdir()
                    cwd = cwd / words[words.index("cd") + 1]
                    continue
                if title == "terminal 1":
                    log = (tmp_path / "terminal-1.log").open("wb")
                    background.append(
                        subprocess.Popen(
                            words,
                            env=env,
                            cwd=cwd,
                            stdout=log,
                            stderr=subprocess.STDOUT,
                            start_new_session=True,
                        )
                    )
                    _wait_until_up(background[-1], env, cwd, tmp_path)
                    continue
                done = subprocess.run(
                    words, env=env, cwd=cwd, capture_output=True, text=True, timeout=300
                )
                assert done.returncode == 0, f"{line}\n{done.stdout[-3000:]}{done.stderr[-3000:]}"
                outputs.append(done.stdout)
    finally:
        for proc in background:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(90)
    assert "2 passed" in outputs[1]  # pytest -q tests
    assert "text.words" in outputs[2]  # asyncml tasks
    assert '"words": 6' in outputs[3] and '"be"' in outputs[3], outputs[3]  # the job's result


def _wait_until_up(
    proc: subprocess.Popen[bytes], env: dict[str, str], cwd: Path, tmp_path: Path
) -> None:
    def up() -> bool:
        if proc.poll() is not None:
            raise AssertionError((tmp_path / "terminal-1.log").read_text()[-3000:])
        listed = subprocess.run(
            ["asyncml", "tasks", "--json", "--url", "http://127.0.0.1:5055"],
            env=env,
            cwd=cwd,
            capture_output=True,
            text=True,
        )
        return listed.returncode == 0 and '"name": "text.words"' in listed.stdout

    wait_for(up, 120, "asyncml up to serve text.words", every=1.0)
