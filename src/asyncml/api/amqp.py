"""Publishing task messages to RabbitMQ from the event loop, with publisher confirms.

Celery's ``send_task`` over py-amqp is synchronous, so the API ran it in a worker thread:
about 0.9 ms of CPU per submit. Here one AMQP connection (aiormq) lives on the event loop;
each publish waits for RabbitMQ's confirm, so an accepted submit means the broker has the
message (a plain ``send_task`` does not wait for that). The connection is opened on first
use and opened again after it breaks.

Every publish ends within ``PUBLISH_TIMEOUT_S``, connecting included, with success or
``PublishError`` (the API then answers 503 and removes the job's record). After a failed
connect, publishes fail at once for ``RETRY_CONNECT_S`` instead of each trying again, so a
broker that drops packets cannot pile up waiting requests. A failure tears down only the
connection it happened on; other publishes in flight on it fail with ``PublishError`` too.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import aiormq
from aiormq.abc import AbstractChannel, AbstractConnection
from pamqp.commands import Basic

from asyncml.scheduling import AMQP_MAX_PRIORITY

CONNECT_TIMEOUT_S = 4.0
PUBLISH_TIMEOUT_S = 5.0
RETRY_CONNECT_S = 1.0
_FAILURES = (TimeoutError, aiormq.exceptions.AMQPError, OSError, RuntimeError)


class PublishError(ConnectionError):
    """RabbitMQ did not take the message (unreachable, or it answered with a nack)."""


class AmqpPublisher:
    def __init__(self, url: str) -> None:
        self.url = url
        self._connection: AbstractConnection | None = None
        self._channel: AbstractChannel | None = None
        self._declared: set[str] = set()
        self._lock = asyncio.Lock()
        self._down_until = 0.0

    async def publish(
        self,
        queue: str,
        body: bytes,
        headers: dict[str, Any],
        correlation_id: str,
        priority: int = 0,
    ) -> None:
        channel: AbstractChannel | None = None
        try:
            async with asyncio.timeout(PUBLISH_TIMEOUT_S):
                channel = await self._open()
                if queue not in self._declared:
                    await self._declare(queue)
                    self._declared.add(queue)
                confirmation = await channel.basic_publish(
                    body,
                    exchange="",
                    routing_key=queue,
                    properties=Basic.Properties(
                        content_type="application/json",
                        content_encoding="utf-8",
                        headers=headers,
                        delivery_mode=2,
                        correlation_id=correlation_id,
                        reply_to="",
                        priority=priority,
                    ),
                )
        except asyncio.CancelledError as exc:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise  # this request was cancelled (client gone, shutdown)
            # The connection was closed under this publish by another one's failure.
            raise PublishError("RabbitMQ connection closed during the publish") from exc
        except PublishError:
            raise
        except _FAILURES as exc:
            await self._drop(channel, exc)
            raise PublishError(f"RabbitMQ did not take the message: {exc!r}") from exc
        if not isinstance(confirmation, Basic.Ack):
            raise PublishError(f"RabbitMQ refused the message ({type(confirmation).__name__})")

    async def _declare(self, queue: str) -> None:
        """Make sure ``queue`` exists, as a Celery worker declares it: with priorities
        (``x-max-priority``) when new. One declared before priorities existed is used as it
        is (declaring it with other arguments would be refused with PRECONDITION_FAILED,
        closing the channel): the check is passive, on a channel of its own."""
        connection = self._connection
        assert connection is not None
        priorities: dict[str, Any] = {"x-max-priority": AMQP_MAX_PRIORITY}
        for arguments in (None, priorities):
            side = await connection.channel()
            try:
                if arguments is None:
                    await side.queue_declare(queue, passive=True)
                else:
                    await side.queue_declare(queue, durable=True, arguments=arguments)
                return
            except aiormq.exceptions.ChannelNotFoundEntity:
                continue  # no such queue yet: declare it with priorities
            except aiormq.exceptions.ChannelPreconditionFailed:
                return  # declared meanwhile without priorities: publish to it as it is
            finally:
                if not side.is_closed:
                    await side.close()

    async def _open(self) -> AbstractChannel:
        channel = self._channel
        if channel is not None and not channel.is_closed:
            return channel
        async with self._lock:
            if self._channel is not None and not self._channel.is_closed:
                return self._channel
            if time.monotonic() < self._down_until:
                raise PublishError("RabbitMQ is unreachable (a connect just failed)")
            await self._close_connection(self._connection, None)
            self._connection = self._channel = None
            self._declared.clear()
            connection: AbstractConnection | None = None
            try:
                connection = await asyncio.wait_for(aiormq.connect(self.url), CONNECT_TIMEOUT_S)
                channel = await asyncio.wait_for(
                    connection.channel(publisher_confirms=True), CONNECT_TIMEOUT_S
                )
            except _FAILURES as exc:
                self._down_until = time.monotonic() + RETRY_CONNECT_S
                await self._close_connection(connection, None)
                raise PublishError(f"could not connect to RabbitMQ: {exc!r}") from exc
            self._connection, self._channel = connection, channel
            return channel

    async def _drop(self, channel: AbstractChannel | None, exc: BaseException) -> None:
        """Forget the connection ``channel`` belongs to, unless it was replaced already."""
        async with self._lock:
            if channel is None or channel is not self._channel:
                return
            connection, self._connection, self._channel = self._connection, None, None
            self._declared.clear()
        await self._close_connection(connection, PublishError(f"publish failed: {exc!r}"))

    @staticmethod
    async def _close_connection(
        connection: AbstractConnection | None, exc: BaseException | None
    ) -> None:
        if connection is None:
            return
        with contextlib.suppress(Exception):
            await asyncio.wait_for(connection.close(exc=exc), 2.0)

    async def close(self) -> None:
        async with self._lock:
            connection, self._connection, self._channel = self._connection, None, None
        await self._close_connection(connection, None)
