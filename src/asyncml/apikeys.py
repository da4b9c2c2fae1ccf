"""API keys: parsed from ``ASYNCML_API_KEYS``, kept only as SHA-256 digests, checked in
constant time.

``ASYNCML_API_KEYS`` holds ``name:key`` pairs separated by commas or new lines, or
``@/path/to/file`` with one pair per line (blank lines and ``#`` comments ignored). The name
owns the jobs created with the key: another key never sees them.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from pathlib import Path

_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
MIN_KEY_LENGTH = 16
# Without API keys every caller shares this owner. No key may take its name: its webhooks
# are signed with the master secret itself (see asyncml.webhooks.signing_secrets).
PUBLIC_OWNER = "public"


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


def _entries(spec: str) -> list[str]:
    spec = spec.strip()
    if spec.startswith("@"):
        path = Path(spec[1:]).expanduser()
        try:
            text = path.read_text()
        except OSError as exc:
            raise ValueError(f"cannot read the API key file {path}: {exc.strerror}") from None
        lines = (line.split("#", 1)[0] for line in text.splitlines())
        return [line.strip() for line in lines if line.strip()]
    return [part.strip() for part in re.split(r"[,\n]", spec) if part.strip()]


@dataclass(frozen=True)
class KeyRing:
    """Key name → SHA-256 digest of the key. Empty: authentication is off."""

    digests: tuple[tuple[str, bytes], ...] = ()

    @classmethod
    def parse(cls, spec: str) -> KeyRing:
        digests: dict[str, bytes] = {}
        for entry in _entries(spec):
            name, sep, key = entry.partition(":")
            name, key = name.strip(), key.strip()
            if not sep or not _NAME.match(name):
                raise ValueError(
                    "each API key must be name:key, the name 1-64 letters, digits, '_', '.' "
                    "or '-' (e.g. billing:3f9a…)"
                )
            if name == PUBLIC_OWNER:
                raise ValueError(
                    f"{PUBLIC_OWNER!r} is the owner of every job when no keys are set; "
                    "give this key another name"
                )
            if len(key) < MIN_KEY_LENGTH:
                raise ValueError(f"the key of {name!r} is shorter than {MIN_KEY_LENGTH} characters")
            if name in digests:
                raise ValueError(f"the API key name {name!r} appears twice")
            if _digest(key) in digests.values():
                raise ValueError(f"the key of {name!r} is also another name's key")
            digests[name] = _digest(key)
        return cls(tuple(digests.items()))

    @property
    def enabled(self) -> bool:
        return bool(self.digests)

    def owner(self, presented: str) -> str | None:
        """The name of the key ``presented``, or None. Compares with every digest, in
        constant time, so the answer's timing says nothing about which key came close."""
        candidate = _digest(presented)
        found = None
        for name, digest in self.digests:
            if hmac.compare_digest(candidate, digest):
                found = name
        return found
