"""Wake waiting requests when a job changes state, without polling.

Workers publish every state change on the job's channel (see ``asyncml.store``). One
pub/sub connection per API process listens to all of them and sets the events of the
requests waiting on that job; a waiting request costs nothing until then.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Iterator

import redis.asyncio as aredis
from redis.exceptions import RedisError

from asyncml.store.keys import EVENTS_PATTERN

log = logging.getLogger(__name__)
_CHANNEL_PREFIX_LEN = len(EVENTS_PATTERN) - 1


class Notifier:
    def __init__(self, client: aredis.Redis) -> None:
        self._client = client
        self._waiters: defaultdict[str, set[asyncio.Event]] = defaultdict(set)
        self._task: asyncio.Task[None] | None = None
        self.connected = False

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="asyncml-notifier")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    @contextlib.contextmanager
    def watch(self, job_id: str) -> Iterator[asyncio.Event]:
        event = asyncio.Event()
        self._waiters[job_id].add(event)
        try:
            yield event
        finally:
            waiters = self._waiters.get(job_id)
            if waiters is not None:
                waiters.discard(event)
                if not waiters:
                    del self._waiters[job_id]

    def _wake_all(self) -> None:
        for waiters in self._waiters.values():
            for event in waiters:
                event.set()

    async def _run(self) -> None:
        delay = 0.5
        while True:
            try:
                async with self._client.pubsub() as pubsub:
                    await pubsub.psubscribe(EVENTS_PATTERN)
                    self.connected = True
                    delay = 0.5
                    # A state change may have been missed while (re)connecting.
                    self._wake_all()
                    async for message in pubsub.listen():
                        if message["type"] != "pmessage":
                            continue
                        job_id = message["channel"][_CHANNEL_PREFIX_LEN:].decode()
                        for event in self._waiters.get(job_id, ()):
                            event.set()
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                log.warning("job events: lost the store connection (%s); reconnecting", exc)
            self.connected = False
            self._wake_all()
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)
