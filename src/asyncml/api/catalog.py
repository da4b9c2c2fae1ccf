"""The API's view of the task registry: what can be run, learned from the job store.

Workers advertise their tasks' manifests in the registry (``asyncml.store.registry``);
the API never imports task code. It keeps a snapshot in memory, checks the registry's
generation once a second and reloads when it moved, and checks it at once when asked for a
task it does not know, so a task whose first worker has just started is accepted within
moments, with no restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import redis

from asyncml.api.validation import InputValidator
from asyncml.errors import UnknownTaskError
from asyncml.queue.names import SERVICE_QUEUES
from asyncml.store.registry import TaskManifest, read_generation, read_manifests

log = logging.getLogger(__name__)
REFRESH_EVERY_S = 1.0


def _age(manifest: TaskManifest) -> tuple[tuple[tuple[int, int | str], ...], float]:
    """Sort key, oldest first: the version, its numbers compared as numbers ("10" after
    "9"), then when it was first registered."""
    parts = manifest.version.replace("-", ".").replace("+", ".").split(".")
    natural = tuple((0, int(p)) if p.isdigit() else (1, p) for p in parts)
    return natural, manifest.registered_at


class TaskCatalog:
    def __init__(self, client: Any) -> None:
        self._client = client
        self.generation = -1
        self.manifests: dict[str, TaskManifest] = {}  # name@version -> manifest
        self._newest: dict[str, TaskManifest] = {}  # name -> its newest version
        self._validators: dict[str, InputValidator] = {}  # schema hash -> validator
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        with contextlib.suppress(redis.RedisError, OSError):
            await self.reload()
        self._task = asyncio.create_task(self._watch(), name="task-catalog")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(REFRESH_EVERY_S)
            try:
                await self.refresh()
            except (redis.RedisError, OSError) as exc:
                log.debug("task catalog: registry not read (%s)", exc)

    async def refresh(self) -> None:
        """Reload if the registry changed since the snapshot (one GET when it did not)."""
        if await read_generation(self._client) != self.generation:
            await self.reload()

    async def reload(self) -> None:
        async with self._lock:
            generation, manifests = await read_manifests(self._client)
            newest: dict[str, TaskManifest] = {}
            for manifest in sorted(manifests.values(), key=_age):
                newest[manifest.name] = manifest
            self.manifests, self._newest, self.generation = manifests, newest, generation
            live = {m.schema_hash for m in manifests.values()}
            self._validators = {h: v for h, v in self._validators.items() if h in live}

    def versions(self, name: str) -> list[TaskManifest]:
        """Every registered version of ``name``, newest first."""
        found = [m for m in self.manifests.values() if m.name == name]
        return sorted(found, key=_age, reverse=True)

    def newest(self) -> list[TaskManifest]:
        """The newest version of every task, by name."""
        return [self._newest[name] for name in sorted(self._newest)]

    def queues(self) -> list[str]:
        """Every queue a registered task uses, and asyncml's own service queues."""
        return sorted({m.queue for m in self.manifests.values()} | set(SERVICE_QUEUES))

    def tasks_on(self, queue: str) -> list[str]:
        return sorted({m.name for m in self.manifests.values() if m.queue == queue})

    def lookup(self, ref: str) -> TaskManifest | None:
        name, _, version = ref.partition("@")
        return self.manifests.get(ref) if version else self._newest.get(name)

    async def resolve(self, ref: str) -> TaskManifest:
        """The manifest ``name`` or ``name@version`` refers to; UnknownTaskError if none."""
        found = self.lookup(ref)
        if found is None:
            # One GET: a flood of unknown names costs the store little.
            with contextlib.suppress(redis.RedisError, OSError):
                await self.refresh()
            found = self.lookup(ref)
        if found is None:
            raise UnknownTaskError(self._unknown_message(ref))
        return found

    def _unknown_message(self, ref: str) -> str:
        name, _, version = ref.partition("@")
        if version and name in self._newest:
            known = ", ".join(m.version for m in self.versions(name))
            return f"task {name!r} has no version {version!r}; registered versions: {known}"
        known = ", ".join(sorted(self._newest)) or "none yet"
        return (
            f"unknown task {ref!r}; known tasks: {known} (a task is known once a worker "
            "serving it has started, or after `asyncml tasks register`)"
        )

    def validator(self, manifest: TaskManifest) -> InputValidator:
        found = self._validators.get(manifest.schema_hash)
        if found is None:
            found = InputValidator(manifest.input_schema)
            self._validators[manifest.schema_hash] = found
        return found
