"""Webhook sends side by side, a lane per destination, so a slow receiver delays only itself.

A webhooks task used to send its attempt in the worker's own slot: with two slots, two
receivers that never answer held every other job's webhook for a whole timeout (15 s), and
six of them for 44 s, again on each retry. Now the task hands the attempt to this process's
``Lanes`` and returns: sends run on a pool of threads, at most ``PER_DESTINATION`` at a time
to one destination (scheme, host and port), the rest of that destination's attempts waiting
in its lane, in order. A receiver that hangs ties up its own lane's threads, never another's.

Nothing is lost by returning before the send: an attempt is claimed in the store when it is
sent (``DeliveryStore.begin``), not when its message arrives, so an attempt still waiting
in a lane when the process dies falls due again when its dispatch claim lapses, and the
sweeper sends it anew (see ``asyncml.store.deliveries``).
"""

from __future__ import annotations

import logging
import os
import threading
from collections import defaultdict, deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

log = logging.getLogger(__name__)

# Threads per webhooks worker process: many more destinations than a busy one sends to at
# once. Each waits on the network, not the CPU.
SENDERS = 32
# A receiver gets at most this many attempts at a time from one process: a hanging one ties
# up no more than that, and a healthy one still gets its webhooks in parallel.
PER_DESTINATION = 4


def destination(url: str) -> str:
    """The lane of a webhook URL: scheme, host and port (a path is the same receiver)."""
    parts = urlsplit(url)
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme, 0)
    return f"{parts.scheme}://{(parts.hostname or '').lower()}:{port}"


class Lanes:
    """Runs callables on a thread pool, at most ``per_lane`` at a time per lane."""

    def __init__(self, threads: int = SENDERS, per_lane: int = PER_DESTINATION) -> None:
        self.threads, self.per_lane = threads, per_lane
        self._lock = threading.Lock()
        self._running: defaultdict[str, int] = defaultdict(int)
        self._waiting: defaultdict[str, deque[Callable[[], None]]] = defaultdict(deque)
        self._pool: ThreadPoolExecutor | None = None
        self._pid: int | None = None

    def submit(self, lane: str, send: Callable[[], None]) -> None:
        with self._lock:
            if self._pid != os.getpid():  # threads do not survive a fork: a pool per process
                self._pid, self._running, self._waiting = (
                    os.getpid(),
                    defaultdict(int),
                    defaultdict(deque),
                )
                self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="webhook")
            if self._running[lane] >= self.per_lane:
                self._waiting[lane].append(send)
                return
            self._running[lane] += 1
        self._start(lane, send)

    def _start(self, lane: str, send: Callable[[], None]) -> None:
        assert self._pool is not None
        try:
            self._pool.submit(self._run, lane, send)
        except RuntimeError:  # the interpreter is exiting: the claim lapses, sent again later
            log.info("webhooks: shutting down; %s attempts left for the sweeper", lane)

    def _run(self, lane: str, send: Callable[[], None]) -> None:
        try:
            send()
        except Exception:  # one attempt's failure must not stall its lane
            log.exception("webhooks: an attempt to %s failed unexpectedly", lane)
        with self._lock:
            waiting = self._waiting[lane]
            if not waiting:
                self._running[lane] -= 1
                if not self._running[lane]:
                    del self._running[lane], self._waiting[lane]
                return
            following = waiting.popleft()
        self._start(lane, following)
