"""Publishing to the broker and asking it questions, without blocking the event loop.

Four ways to publish, fastest first (the API publishes by task name only and never
imports worker code):

- the broker is a Redis database that is also the job store's (the embedded layout): the
  message is pushed by the script that writes the job's record (``colocated``);
- another Redis broker: one ``LPUSH`` of the message on an asyncio connection;
- RabbitMQ: an asyncio AMQP connection with publisher confirms (``asyncml.queue.amqp``);
- anything else: Celery's ``send_task``; kombu is synchronous, so it runs in a worker
  thread and a slow broker never blocks other requests.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import redis
import redis.asyncio as aredis
from anyio import to_thread
from celery import Celery
from kombu.exceptions import KombuError

from asyncml.errors import ServiceUnavailableError
from asyncml.queue.amqp import AmqpPublisher
from asyncml.queue.wire import (
    redis_list,
    redis_location,
    redis_py_url,
    task_body,
    task_headers,
    task_message,
)
from asyncml.scheduling import NO_OPTIONS, JobOptions, broker_priority
from asyncml.store import Enqueue
from asyncml.store.connections import DEFAULT_MAX_CONNECTIONS, DEFAULT_POOL_WAIT_S, async_redis
from asyncml.store.registry import TaskManifest

log = logging.getLogger(__name__)
_BROKER_ERRORS = (KombuError, OSError, ConnectionError, TimeoutError, redis.RedisError)


def _redis_message(
    spec: TaskManifest,
    job_id: str,
    payload: dict[str, Any],
    priority: int,
    time_limits: tuple[float, float] | None,
) -> bytes:
    """The Celery message of a job, as kombu's Redis transport keeps it in a list."""
    return task_message(
        spec.celery_name,
        spec.queue,
        job_id,
        payload,
        spec.version,
        priority=priority,
        time_limits=time_limits,
    )


def send_job(
    celery: Celery,
    celery_name: str,
    job_id: str,
    payload: dict[str, Any],
    version: str | None,
    queue: str,
    *,
    priority: int | None = None,
    soft_time_limit: float | None = None,
    time_limit: float | None = None,
) -> None:
    """Send one job's task through Celery's own producer (blocking): the message every path
    writes (task name, ``(job_id, input)``, the version in kwargs, task id = job id), on the
    job's queue with its broker ``priority`` and time limits. The API's fallback path and
    the workers' republisher both send through here."""
    celery.send_task(
        celery_name,
        args=(job_id, payload),
        kwargs={"version": version},
        task_id=job_id,
        queue=queue,
        priority=priority,
        soft_time_limit=soft_time_limit,
        time_limit=time_limit,
    )


def send_delivery(celery: Celery, task: str, member: str, attempt: int, queue: str) -> None:
    """Send one webhook delivery attempt's task (blocking; the workers' webhook sweeper)."""
    celery.send_task(task, args=(member, attempt), queue=queue)


class Publisher:
    def __init__(
        self,
        celery: Celery,
        store_url: str,
        *,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        pool_wait_s: float = DEFAULT_POOL_WAIT_S,
    ) -> None:
        self.celery = celery
        self._depths: dict[str, tuple[float, int | None]] = {}
        url = str(celery.conf.broker_url)
        location = redis_location(url)
        self.colocated = location is not None and location == redis_location(store_url)
        self._redis: aredis.Redis | None = None
        self._amqp: AmqpPublisher | None = None
        direct = redis_py_url(url)
        if direct is not None and not self.colocated:
            self._redis = async_redis(direct, max_connections=max_connections, wait_s=pool_wait_s)
        elif url.startswith(("amqp://", "amqps://", "pyamqp://")):
            self._amqp = AmqpPublisher(url.replace("pyamqp://", "amqp://", 1))

    def with_record(
        self,
        spec: TaskManifest,
        job_id: str,
        payload: dict[str, Any],
        options: JobOptions = NO_OPTIONS,
        time_limits: tuple[float, float] | None = None,
    ) -> Enqueue | None:
        """The message for the store to push with the job's record, when it can."""
        if not self.colocated:
            return None
        message = _redis_message(spec, job_id, payload, options.priority, time_limits)
        return Enqueue(redis_list(spec.queue, options.priority), message)

    async def publish(
        self,
        spec: TaskManifest,
        job_id: str,
        payload: dict[str, Any],
        options: JobOptions = NO_OPTIONS,
        time_limits: tuple[float, float] | None = None,
    ) -> None:
        """Publish a job whose record did not carry its message (see ``with_record``)."""
        priority = options.priority
        if self._redis is not None:
            message = _redis_message(spec, job_id, payload, priority, time_limits)
            try:
                await self._redis.lpush(redis_list(spec.queue, priority), message)
            except redis.RedisError as exc:
                log.error("job %s: could not publish to the broker: %s", job_id, exc)
                raise ServiceUnavailableError(
                    "the message broker is unreachable; retry shortly"
                ) from exc
            return
        if self._amqp is not None:
            headers = task_headers(spec.celery_name, job_id, payload, spec.version, time_limits)
            body = task_body(job_id, payload, spec.version)
            try:
                await self._amqp.publish(
                    spec.queue, body, headers, job_id, broker_priority(priority, redis=False)
                )
            except ConnectionError as exc:
                log.error("job %s: could not publish to the broker: %s", job_id, exc)
                raise ServiceUnavailableError(
                    "the message broker is unreachable; retry shortly"
                ) from exc
            return

        def send() -> None:
            soft, hard = time_limits if time_limits else (None, None)
            send_job(
                self.celery,
                spec.celery_name,
                job_id,
                payload,
                spec.version,
                spec.queue,
                priority=priority,
                soft_time_limit=soft,
                time_limit=hard,
            )

        try:
            await to_thread.run_sync(send)
        except _BROKER_ERRORS as exc:
            log.error("job %s: could not publish to the broker: %s", job_id, exc)
            raise ServiceUnavailableError(
                "the message broker is unreachable; retry shortly"
            ) from exc

    async def terminate(self, job_id: str) -> None:
        """Stop a running job wherever it runs (the store already says canceled)."""

        def revoke() -> None:
            self.celery.control.revoke(job_id, terminate=True, signal="SIGTERM")

        try:
            await to_thread.run_sync(revoke)
        except _BROKER_ERRORS as exc:
            log.warning("job %s: could not broadcast the revoke: %s", job_id, exc)

    async def ping(self) -> bool:
        def check() -> bool:
            with self.celery.connection_for_read() as conn:
                conn.ensure_connection(max_retries=1, timeout=2)
                return True

        try:
            return await to_thread.run_sync(check)
        except _BROKER_ERRORS:
            return False

    async def depth(self, queue: str) -> int | None:
        """Messages waiting in a queue, cached for a second; None if the broker won't say."""
        cached = self._depths.get(queue)
        if cached is not None and time.monotonic() - cached[0] < 1.0:
            return cached[1]

        def count() -> int:
            with self.celery.connection_for_read() as conn:
                # Redis deletes an empty queue's list, so a passive declare would say "no such
                # queue"; declaring there creates nothing and counts the lists.
                passive = conn.transport.driver_type != "redis"
                ok = conn.default_channel.queue_declare(queue=queue, passive=passive)
                return int(ok.message_count)

        try:
            value: int | None = await to_thread.run_sync(count)
        except Exception:  # a queue nobody declared yet, or a broker that is down
            value = None
        self._depths[queue] = (time.monotonic(), value)
        return value

    async def close(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()
        if self._amqp is not None:
            await self._amqp.close()
