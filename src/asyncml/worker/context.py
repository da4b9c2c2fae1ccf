"""Per-process resources of a worker: built once in each (forked) process, then reused."""

from __future__ import annotations

import os
from typing import Protocol

from asyncml.net import Egress, EgressPolicy
from asyncml.settings import Settings
from asyncml.store import JobStore, files
from asyncml.store.registry import Registry
from asyncml.worker.drain import Drain
from asyncml.worker.lease import LeaseKeeper


class Holder(Protocol):
    """Told of the messages a batch holds besides Celery's own (a solo process's InHand)."""

    def received(self, task_id: str, tag: str) -> None: ...

    def released(self, task_id: str) -> None: ...


class WorkerContext:
    """Lazily built store and egress client, rebuilt after a fork (sockets are per process)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._pid: int | None = None
        self._store: JobStore | None = None
        self._egress: Egress | None = None
        self._leases: LeaseKeeper | None = None
        self._drain: Drain | None = None
        self.holder: Holder | None = None  # set by asyncml.worker.solo in a solo process

    def _check_pid(self) -> None:
        if self._pid != os.getpid():
            self._pid = os.getpid()
            self._store = None
            self._egress = None
            self._leases = None
            self._drain = None

    @property
    def store(self) -> JobStore:
        self._check_pid()
        if self._store is None:
            self._store = JobStore(self.settings.effective_store_url, self.settings.job_retention_s)
        return self._store

    @property
    def registry(self) -> Registry:
        return Registry(self.store.redis)

    @property
    def leases(self) -> LeaseKeeper:
        self._check_pid()
        if self._leases is None:
            self._leases = LeaseKeeper(self.store, self.settings.lease_s)
        return self._leases

    @property
    def drain(self) -> Drain:
        """The connection a batched task takes its further messages on."""
        self._check_pid()
        if self._drain is None:
            self._drain = Drain(self.settings)
        return self._drain

    @property
    def egress(self) -> Egress:
        self._check_pid()
        if self._egress is None:
            s = self.settings
            policy = EgressPolicy.from_allow_string(
                s.egress_allow,
                max_bytes=s.fetch_max_bytes,
                drain_bytes=s.fetch_drain_bytes,
                connect_timeout=s.fetch_connect_timeout_s,
                total_timeout=s.fetch_timeout_s,
            )
            # Uploaded files (asyncml://files/<id>) are read from the job store.
            self._egress = Egress(policy, files=files.lookup(self.store.redis))
        return self._egress
