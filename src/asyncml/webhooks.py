"""Signed webhooks, per the Standard Webhooks spec (https://www.standardwebhooks.com).

Every delivery carries three headers:

- ``webhook-id``: the same on every retry of one event (``msg_<job id>_<event>``), so a
  receiver can drop duplicates;
- ``webhook-timestamp``: Unix seconds of the attempt;
- ``webhook-signature``: ``v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">``, one per
  secret, space-separated (several secrets are in force while one is being rotated).

Secrets look like ``whsec_<base64 of 24 to 64 random bytes>``. A receiver written in Python
checks a delivery with :func:`verify`; this module needs nothing beyond the standard library.

Each API key has its own secret (:func:`owner_secret`), derived from the master secret
(``ASYNCML_WEBHOOK_SECRET``, or the one kept in the store) and the key's name: a key's
webhooks are signed with its secret only, so one tenant cannot sign deliveries another
tenant's receiver accepts. Derived, not stored, so every webhooks worker computes it without
a lookup; an HMAC, so no key's secret tells another's, nor the master. Without API keys
every job has the one owner ``public``, whose secret is the master itself.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import secrets
import time
from collections.abc import Iterable, Mapping
from typing import Any

from asyncml.apikeys import PUBLIC_OWNER

SECRET_PREFIX = "whsec_"
SECRET_MIN_BYTES = 24
SECRET_MAX_BYTES = 64
EVENTS = ("started", "completed")
_SPLIT = re.compile(r"[\s,]+")


class WebhookVerificationError(ValueError):
    """A delivery whose headers, timestamp or signature do not check out."""


def generate_secret(n_bytes: int = 32) -> str:
    """A new ``whsec_…`` secret."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(n_bytes)).decode("ascii")


def secret_key(secret: str) -> bytes:
    """The HMAC key of a ``whsec_…`` secret; ValueError naming the problem otherwise."""
    text = secret.strip()
    if not text.startswith(SECRET_PREFIX):
        raise ValueError(
            f"a webhook secret starts with {SECRET_PREFIX!r} followed by base64; generate one "
            "with: python -c 'import asyncml.webhooks as w; print(w.generate_secret())'"
        )
    try:
        encoded = text[len(SECRET_PREFIX) :]
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("the part of a webhook secret after 'whsec_' is not base64") from None
    if not SECRET_MIN_BYTES <= len(key) <= SECRET_MAX_BYTES:
        raise ValueError(
            f"a webhook secret must decode to {SECRET_MIN_BYTES} to {SECRET_MAX_BYTES} bytes, "
            f"this one has {len(key)}"
        )
    return key


def parse_secrets(value: str | Iterable[str]) -> tuple[str, ...]:
    """``"whsec_a whsec_b"`` or ``"whsec_a,whsec_b"`` (or a list) as checked secrets."""
    items = _SPLIT.split(value) if isinstance(value, str) else list(value)
    found = tuple(item.strip() for item in items if item.strip())
    for item in found:
        secret_key(item)
    return found


def owner_secret(secret: str, owner: str) -> str:
    """The ``whsec_…`` secret of API key ``owner``, derived from the master ``secret``."""
    derived = hmac.new(secret_key(secret), b"asyncml owner " + owner.encode(), hashlib.sha256)
    return SECRET_PREFIX + base64.b64encode(derived.digest()).decode("ascii")


def signing_secrets(secrets: Iterable[str], owner: str) -> tuple[str, ...]:
    """The secrets that sign ``owner``'s webhooks: one per master secret in force."""
    if owner == PUBLIC_OWNER:
        return tuple(secrets)
    return tuple(owner_secret(secret, owner) for secret in secrets)


def webhook_id(job_id: str, event: str) -> str:
    """The message id of one event of one job: the same on every retry and redelivery."""
    return f"msg_{job_id}_{event}"


def _signature(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def sign(
    body: bytes, msg_id: str, secret: str | Iterable[str], timestamp: int | None = None
) -> dict[str, str]:
    """The three headers of a delivery of ``body``, signed with every secret given."""
    keys = [secret_key(s) for s in ([secret] if isinstance(secret, str) else secret)]
    if not keys:
        raise ValueError("no webhook secret to sign with")
    ts = int(time.time()) if timestamp is None else timestamp
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(ts),
        "webhook-signature": " ".join(_signature(k, msg_id, ts, body) for k in keys),
    }


def verify(
    body: bytes,
    headers: Mapping[str, str],
    secret: str | list[str],
    tolerance_s: float = 300,
) -> dict[str, Any]:
    """Check a delivery and return its JSON body; raise WebhookVerificationError otherwise.

    ``body`` must be the raw bytes received (not re-serialised JSON). ``secret`` may be a
    list while secrets are rotated: any one matching signature is enough. A timestamp more
    than ``tolerance_s`` away from now is refused, which stops replays of old deliveries.
    """
    lowered = {k.lower(): v for k, v in headers.items()}
    msg_id = lowered.get("webhook-id")
    stamp = lowered.get("webhook-timestamp")
    signatures = lowered.get("webhook-signature")
    missing = [
        name
        for name, value in (
            ("webhook-id", msg_id),
            ("webhook-timestamp", stamp),
            ("webhook-signature", signatures),
        )
        if not value
    ]
    if missing or msg_id is None or stamp is None or signatures is None:
        raise WebhookVerificationError(f"missing header(s): {', '.join(missing)}")
    try:
        ts = int(stamp)
    except ValueError:
        raise WebhookVerificationError(f"webhook-timestamp {stamp!r} is not Unix seconds") from None
    skew = time.time() - ts
    if abs(skew) > tolerance_s:
        direction = "old" if skew > 0 else "far in the future"
        raise WebhookVerificationError(
            f"webhook-timestamp is {abs(skew):.0f}s {direction} (tolerance {tolerance_s:.0f}s); "
            "a replay, or a clock that is off"
        )
    keys = [secret_key(s) for s in ([secret] if isinstance(secret, str) else secret)]
    offered = {part for part in signatures.split(" ") if part.startswith("v1,")}
    for key in keys:
        expected = _signature(key, msg_id, ts, body)
        if any(hmac.compare_digest(expected, candidate) for candidate in offered):
            try:
                payload: dict[str, Any] = json.loads(body)
            except ValueError:
                raise WebhookVerificationError("the body is not JSON") from None
            return payload
    raise WebhookVerificationError(
        "no signature matches: wrong secret, or the body was changed (verify the raw bytes)"
    )
