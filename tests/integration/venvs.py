"""A fresh virtual environment that sees this one's packages: for tests that ``pip install``
a package (the example, the guide's) without touching the test run's own environment and
without downloading anything."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from pathlib import Path


def overlay_venv(path: Path) -> Path:
    """Create a venv at ``path`` whose ``site-packages`` also reads this environment's (so
    asyncml, pip and pytest are there), with ``asyncml``, ``pip`` and ``pytest`` commands in
    its ``bin``. Returns its ``bin`` folder."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True)
    python = path / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    base = sysconfig.get_paths()["purelib"]
    # An "import" line runs: addsitedir also reads the base's own .pth files (editable installs).
    Path(purelib, "_asyncml_base.pth").write_text(f"import site; site.addsitedir({base!r})\n")
    for command, module in (("asyncml", "asyncml"), ("pip", "pip"), ("pytest", "pytest")):
        script = path / "bin" / command
        script.write_text(f'#!/bin/sh\nexec "{python}" -m {module} "$@"\n')
        script.chmod(0o755)
    return path / "bin"


def clean_env(bin_dir: Path, home: Path, **extra: str) -> dict[str, str]:
    """An environment for a command a person would type: this venv first on PATH, a HOME of
    its own (the embedded data directory lives under it), no ASYNCML_ settings; pip builds
    with what is installed instead of downloading build tools."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ASYNCML_", "PYTHON"))}
    env |= {
        "PATH": f"{bin_dir}:{env.get('PATH', '/usr/bin:/bin')}",
        "HOME": str(home),
        "VIRTUAL_ENV": str(bin_dir.parent),
        "PIP_NO_BUILD_ISOLATION": "0",
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "PIP_NO_INDEX": "1",
    }
    return env | extra
