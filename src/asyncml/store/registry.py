"""The task registry: which tasks exist, their schemas, and which workers serve them.

Workers write it; the API reads it and never imports task code. Keys (all under
``asyncml:registry:``):

- ``manifests`` (hash): ``name@version`` -> the manifest JSON a worker advertised
  (``asyncml.authoring.TaskDefinition.manifest``); kept when every worker has stopped, so a
  task scaled to zero still accepts jobs. ``asyncml tasks forget NAME`` removes one.
- ``hashes`` / ``registered`` (hashes): each manifest's schema hash (a worker rewrites a
  manifest only when it changed) and when its ``name@version`` first appeared (a plain
  ``name`` means the highest version; this breaks ties).
- ``generation``: bumped on every change, so readers reload only when it moves.
- ``workers:<name@version>`` (sorted set): node -> last heartbeat time.
- ``errors:<name@version>`` (hash): node -> why that node's ``setup()`` failed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import orjson

from asyncml.store.keys import (
    GENERATION_KEY,
    HASHES_KEY,
    MANIFESTS_KEY,
    REGISTERED_KEY,
)
from asyncml.store.keys import REGISTRY_PREFIX as PREFIX
from asyncml.store.keys import task_errors_key as errors_key
from asyncml.store.keys import task_workers_key as workers_key

# A worker that missed this many seconds of heartbeats no longer counts as online.
WORKER_TTL_S = 20.0


# KEYS: manifests, registered, hashes, generation. ARGV: now, then (key, manifest, hash)*.
# Returns 1 when anything changed.
REGISTER_LUA = """
local changed = 0
for i = 2, #ARGV, 3 do
  local key, body, digest = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  if redis.call('HGET', KEYS[3], key) ~= digest then
    redis.call('HSET', KEYS[1], key, body)
    redis.call('HSET', KEYS[3], key, digest)
    changed = 1
  end
  if redis.call('HSETNX', KEYS[2], key, ARGV[1]) == 1 then changed = 1 end
end
if changed == 1 then redis.call('INCR', KEYS[4]) end
return changed
"""

# KEYS: manifests, registered, hashes, generation. ARGV: the name, the version ('' for all).
# Returns the keys removed.
FORGET_LUA = (
    """
local removed = {}
for _, key in ipairs(redis.call('HKEYS', KEYS[1])) do
  local at = string.find(key, '@', 1, true)
  if at and string.sub(key, 1, at - 1) == ARGV[1]
     and (ARGV[2] == '' or string.sub(key, at + 1) == ARGV[2]) then
    redis.call('HDEL', KEYS[1], key)
    redis.call('HDEL', KEYS[2], key)
    redis.call('HDEL', KEYS[3], key)
    redis.call('DEL', '"""
    + PREFIX
    + """:workers:' .. key, '"""
    + PREFIX
    + """:errors:' .. key)
    removed[#removed + 1] = key
  end
end
if #removed > 0 then redis.call('INCR', KEYS[4]) end
return removed
"""
)
_KEYS = [MANIFESTS_KEY, REGISTERED_KEY, HASHES_KEY, GENERATION_KEY]


@dataclass(frozen=True)
class TaskManifest:
    """One ``name@version`` as a worker advertised it."""

    name: str
    version: str
    queue: str
    celery_name: str
    description: str
    input_schema: dict[str, Any]
    output_schema: dict[str, Any]
    limits: dict[str, Any]
    schema_hash: str
    registered_at: float

    @property
    def key(self) -> str:
        return f"{self.name}@{self.version}"

    @classmethod
    def decode(cls, body: bytes | str, registered_at: bytes | str | None) -> TaskManifest:
        data = orjson.loads(body)
        return cls(
            name=data["name"],
            version=data["version"],
            queue=data["queue"],
            celery_name=data["celery_name"],
            description=data.get("description", ""),
            input_schema=data["input_schema"],
            output_schema=data["output_schema"],
            limits=data.get("limits", {}),
            schema_hash=data["schema_hash"],
            registered_at=float(registered_at or 0),
        )


def register_args(manifests: list[dict[str, Any]]) -> list[Any]:
    args: list[Any] = [time.time()]
    for manifest in manifests:
        key = f"{manifest['name']}@{manifest['version']}"
        args += [key, orjson.dumps(manifest), manifest["schema_hash"]]
    return args


class Registry:
    """The registry through a synchronous redis-py client (workers, the CLI, tests)."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self._register = client.register_script(REGISTER_LUA)
        self._forget = client.register_script(FORGET_LUA)

    def register(self, manifests: list[dict[str, Any]]) -> bool:
        """Write these manifests; True when the registry changed."""
        if not manifests:
            return False
        return bool(self._register(keys=_KEYS, args=register_args(manifests)))

    def beat(self, node: str, task_keys: list[str]) -> None:
        now = time.time()
        pipe = self.client.pipeline(transaction=False)
        for key in task_keys:
            pipe.zadd(workers_key(key), {node: now})
            pipe.zremrangebyscore(workers_key(key), "-inf", now - WORKER_TTL_S * 10)
            pipe.expire(workers_key(key), int(WORKER_TTL_S * 10))
        pipe.execute()

    def leave(self, node: str, task_keys: list[str]) -> None:
        pipe = self.client.pipeline(transaction=False)
        for key in task_keys:
            pipe.zrem(workers_key(key), node)
            pipe.hdel(errors_key(key), node)
        pipe.execute()

    def setup_failed(self, task_key: str, node: str, error: str) -> None:
        body = orjson.dumps({"worker": node, "error": error[:2000], "at": time.time()})
        self.client.hset(errors_key(task_key), node, body)
        self.client.expire(errors_key(task_key), int(WORKER_TTL_S * 10))

    def setup_succeeded(self, task_key: str, node: str) -> None:
        self.client.hdel(errors_key(task_key), node)

    def forget(self, name: str, version: str | None = None) -> list[str]:
        removed = self._forget(keys=_KEYS, args=[name, version or ""])
        return [key.decode() if isinstance(key, bytes) else key for key in removed]

    def manifests(self) -> dict[str, TaskManifest]:
        bodies = self.client.hgetall(MANIFESTS_KEY)
        registered = self.client.hgetall(REGISTERED_KEY)
        return _decode_all(bodies, registered)

    def workers_online(self, task_keys: list[str]) -> dict[str, int]:
        """Worker nodes that beat for each task within the heartbeat's lifetime."""
        now = time.time()
        with self.client.pipeline(transaction=False) as pipe:
            for key in task_keys:
                pipe.zcount(workers_key(key), now - WORKER_TTL_S, "+inf")
            counts = pipe.execute()
        return {key: int(count) for key, count in zip(task_keys, counts, strict=True)}


def _decode_all(bodies: dict[Any, Any], registered: dict[Any, Any]) -> dict[str, TaskManifest]:
    found = {}
    for key, body in bodies.items():
        manifest = TaskManifest.decode(body, registered.get(key))
        found[manifest.key] = manifest
    return found


async def read_generation(client: Any) -> int:
    return int(await client.get(GENERATION_KEY) or 0)


async def read_manifests(client: Any) -> tuple[int, dict[str, TaskManifest]]:
    """The generation and every manifest, read together (asyncio client)."""
    async with client.pipeline(transaction=True) as pipe:
        pipe.get(GENERATION_KEY)
        pipe.hgetall(MANIFESTS_KEY)
        pipe.hgetall(REGISTERED_KEY)
        generation, bodies, registered = await pipe.execute()
    return int(generation or 0), _decode_all(bodies, registered)


@dataclass(frozen=True)
class Presence:
    workers: int  # online and set up
    setup_errors: list[dict[str, Any]]


async def read_presence(client: Any, task_keys: list[str]) -> dict[str, Presence]:
    """Workers online and their setup errors, per task (asyncio client, one round trip)."""
    now = time.time()
    async with client.pipeline(transaction=False) as pipe:
        for key in task_keys:
            pipe.zrangebyscore(workers_key(key), now - WORKER_TTL_S, "+inf")
            pipe.hgetall(errors_key(key))
        replies = await pipe.execute()
    presence = {}
    for i, key in enumerate(task_keys):
        live = {m.decode() if isinstance(m, bytes) else m for m in replies[2 * i]}
        errors = [orjson.loads(body) for body in replies[2 * i + 1].values()]
        errors = [e for e in errors if e.get("worker") in live]
        # A worker whose setup() failed is online but does not take this task's jobs.
        ready = live - {e["worker"] for e in errors}
        presence[key] = Presence(workers=len(ready), setup_errors=errors)
    return presence
