"""Leases on running jobs, renewed by one thread per worker process.

A job's lease says "a live worker is running me". A second delivery of the same job
(a broker redelivery) finds the lease fresh and waits instead of running alongside; if the
worker dies, renewals stop and the lease lapses within ``lease_s`` (``ASYNCML_LEASE_S``).
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator

import redis

from asyncml.store import JobStore

log = logging.getLogger(__name__)

LEASE_S = 15.0  # the default of ASYNCML_LEASE_S


class LeaseKeeper:
    def __init__(self, store: JobStore, lease_s: float = LEASE_S) -> None:
        self._store = store
        self.lease_s = lease_s
        self._held: set[str] = set()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    @contextlib.contextmanager
    def hold(self, job_id: str) -> Iterator[None]:
        with self._lock:
            self._held.add(job_id)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="leases", daemon=True)
                self._thread.start()
        try:
            yield
        finally:
            with self._lock:
                self._held.discard(job_id)

    def _run(self) -> None:
        stop = threading.Event()
        while not stop.wait(self.lease_s / 3):
            with self._lock:
                held = list(self._held)
            for job_id in held:
                try:
                    self._store.renew(job_id, self.lease_s)
                except redis.RedisError as exc:
                    log.warning("job %s: could not renew its lease: %s", job_id, exc)
