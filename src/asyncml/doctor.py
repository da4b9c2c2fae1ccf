"""``asyncml doctor``: the effective settings, where each came from, and whether the broker,
the job store and the workers answer. Reads the environment only through Settings (and the
same ``.env`` file Settings reads, to say which values came from it)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr

from asyncml.settings import Settings

LEGACY_URLS = {"broker_url": "RABBITMQ_*/REDIS_* (legacy)", "store_url": "REDIS_* (legacy)"}


@dataclass(frozen=True)
class Entry:
    variable: str
    value: str
    source: str  # environment, .env, legacy variables, default


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


def _dotenv() -> dict[str, str | None]:
    from dotenv import dotenv_values

    path = Path(".env")
    return dict(dotenv_values(path)) if path.is_file() else {}


def settings_report(settings: Settings, options: frozenset[str] = frozenset()) -> list[Entry]:
    """Every setting's effective value (secrets masked) and its source; ``options``: the
    settings given on the command line."""
    dotenv = {k.upper(): v for k, v in _dotenv().items()}
    entries = []
    for name in type(settings).model_fields:
        variable = f"ASYNCML_{name.upper()}"
        value = getattr(settings, name)
        if isinstance(value, SecretStr):
            shown = "(set, hidden)" if value.get_secret_value() else ""
        else:
            shown = "" if value is None else str(value)
        if name in options:
            source = "command line"
        elif variable in os.environ:
            source = "environment"
        elif variable in dotenv:
            source = ".env"
        elif name in LEGACY_URLS and value is not None:
            source = LEGACY_URLS[name]
        else:
            source = "default"
        entries.append(Entry(variable, shown or "(unset)", source))
    return entries


def run_checks(settings: Settings) -> list[Check]:
    """Ask the job store, the broker and the registry; never starts anything."""
    import redis

    from asyncml.queue.brokerview import check_connection
    from asyncml.store.registry import Registry

    checks = []
    store_url = settings.effective_store_url
    if settings.embedded and not settings.socket_path.exists():
        return [
            Check(
                "store",
                False,
                f"the embedded Valkey is not running ({settings.socket_path}); "
                "`asyncml up` starts it",
            )
        ]
    client = redis.Redis.from_url(store_url, socket_timeout=3, socket_connect_timeout=3)
    try:
        client.ping()
        checks.append(Check("store", True, store_url))
        registry = Registry(client)
        manifests = registry.manifests()
        online = registry.workers_online(sorted(manifests))
        if not manifests:
            checks.append(
                Check("workers", False, "no task registered: start `asyncml worker` or `up`")
            )
        else:
            listed = ", ".join(f"{key}: {n}" for key, n in online.items())
            checks.append(Check("workers", all(online.values()), f"online per task: {listed}"))
    except redis.RedisError as exc:
        checks.append(Check("store", False, f"{store_url}: {exc}"))
    finally:
        client.close()
    broker_url = settings.effective_broker_url
    try:
        check_connection(broker_url, timeout_s=3)
        checks.append(Check("broker", True, _without_password(broker_url)))
    except Exception as exc:  # kombu raises many types; each is a failed check here
        checks.append(Check("broker", False, f"{_without_password(broker_url)}: {exc}"))
    return checks


def _without_password(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    userinfo, at, host = rest.rpartition("@")
    if not at or ":" not in userinfo:
        return url
    return f"{scheme}{sep}{userinfo.split(':', 1)[0]}:****@{host}"
