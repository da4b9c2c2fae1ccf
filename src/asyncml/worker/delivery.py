"""Tasks on the ``webhooks`` queue: one message sends one attempt of one delivery.

Messages are published by the sweeper (``asyncml.worker.sweeper``) when a delivery falls
due; the task hands the attempt to its destination's lane (``asyncml.worker.lanes``), so a
slow receiver delays only its own webhooks. The attempt is claimed in the store before
anything is sent, so a duplicate or stale message does nothing. What happens next depends
on the answer:

- 2xx: delivered. 410 Gone: the receiver wants no more; no retry.
- anything else (3xx included: redirects are never followed), a refused connection or a
  timeout: retried after the next delay of ``ASYNCML_WEBHOOK_RETRY_SCHEDULE_S``, with up to
  10% jitter, until the schedule runs out. A 429 or 503 with ``Retry-After`` waits at least
  that long (at most a day).
- a destination the egress policy refuses: failed at once; retrying cannot help.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import functools
import logging
import os
import random
import time
from dataclasses import dataclass
from typing import Any

import orjson
import redis
from celery import Celery
from celery.exceptions import SoftTimeLimitExceeded

from asyncml.apikeys import PUBLIC_OWNER
from asyncml.errors import DestinationNotAllowedError, FetchTimeoutError, JobError
from asyncml.net import Egress, EgressPolicy
from asyncml.net.client import Reply
from asyncml.queue.names import WEBHOOK_DELIVER_TASK, WEBHOOK_QUEUE
from asyncml.settings import Settings
from asyncml.store import JobStore
from asyncml.store.counters import record_webhook_failure
from asyncml.store.deliveries import Delivery, DeliveryStore
from asyncml.store.effects import event_view, legacy_result
from asyncml.webhooks import sign, signing_secrets, webhook_id
from asyncml.worker.lanes import Lanes, destination

log = logging.getLogger(__name__)

MAX_RETRY_AFTER_S = 86400.0
WEBHOOK_REPLY_DRAIN_BYTES = 64 * 1024
JITTER = 0.1
# A claimed attempt that records no outcome within this margin past the timeout is taken
# to be lost with its worker, and the sweeper moves on to the next attempt.
SEND_CLAIM_MARGIN_S = 30.0


@dataclass(frozen=True)
class Verdict:
    outcome: str  # succeeded, retrying, failed
    next_s: float | None = None
    note: str | None = None


def retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds asked for by a ``Retry-After`` header (delta seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def judge(
    status: int | None,
    headers: dict[str, str],
    step: int,
    schedule: tuple[float, ...],
    *,
    permanent: bool = False,
    rng: random.Random | None = None,
) -> Verdict:
    """What follows an attempt at ``step`` of ``schedule``: done, retry in N s, or give up."""
    if status is not None and 200 <= status < 300:
        return Verdict("succeeded")
    if status == 410:
        return Verdict("failed", note="the receiver answered 410 Gone; no more retries")
    if permanent:
        return Verdict("failed", note="the destination is not allowed; no retries")
    if step + 1 >= len(schedule):
        return Verdict("failed", note=f"gave up after {len(schedule)} attempts")
    delay = schedule[step + 1] * (1 + (rng or random).uniform(0, JITTER))
    if status in (429, 503):
        asked = retry_after(headers.get("retry-after"))
        if asked is not None:
            delay = max(delay, min(asked, MAX_RETRY_AFTER_S))
    return Verdict("retrying", next_s=delay)


def render_body(delivery: Delivery, store: JobStore) -> bytes | None:
    """The bytes every attempt of this event sends; None when the job has expired."""
    stored = store.get(delivery.job_id)
    if stored is None:
        return None
    job = event_view(stored.job, delivery.raw_event())
    if delivery.shape == "legacy":
        return legacy_result(job).model_dump_json().encode()
    data = job.model_dump(mode="json", exclude={"deliveries", "links", "webhook_status"})
    envelope = {"type": f"job.{delivery.event}", "timestamp": _iso(delivery.at), "data": data}
    return orjson.dumps(envelope)


class Courier:
    """Per-process resources and the send of one attempt (rebuilt after a fork)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._pid: int | None = None
        self._deliveries: DeliveryStore | None = None
        self._jobs: JobStore | None = None
        self._egress: Egress | None = None
        self._secrets: tuple[str, ...] = ()

    @property
    def send_claim_s(self) -> float:
        return self.settings.webhook_timeout_s + SEND_CLAIM_MARGIN_S

    def _open(self) -> tuple[DeliveryStore, JobStore, Egress]:
        if self._pid != os.getpid() or self._deliveries is None:
            s = self.settings
            self._pid = os.getpid()
            self._jobs = JobStore(s.effective_store_url, s.job_retention_s)
            self._deliveries = DeliveryStore(self._jobs.redis)
            policy = EgressPolicy.from_allow_string(
                s.egress_allow,
                max_bytes=1024 * 1024,
                # A receiver's reply is read to its end when short, so the next delivery
                # to it reuses the connection (and its TLS session) instead of a new one.
                drain_bytes=WEBHOOK_REPLY_DRAIN_BYTES,
                connect_timeout=min(s.fetch_connect_timeout_s, s.webhook_timeout_s),
                total_timeout=s.webhook_timeout_s,
                user_agent="asyncml-webhooks/0.1",
            )
            self._egress = Egress(policy)
            self._secrets = s.webhook_secrets
        assert self._jobs is not None and self._egress is not None
        return self._deliveries, self._jobs, self._egress

    def secrets(self, owner: str) -> tuple[str, ...]:
        """The secrets that sign the webhooks of ``owner``'s jobs (each key has its own)."""
        deliveries, _, _ = self._open()
        if not self._secrets:
            self._secrets = (deliveries.secret(),)
            log.info("webhooks: signing with the secret kept in the job store")
        return signing_secrets(self._secrets, owner)

    def destination(self, member: str) -> str | None:
        """The lane of a delivery (None once its record is gone: nothing to send)."""
        deliveries, _, _ = self._open()
        url = deliveries.url(member)
        return None if url is None else destination(url)

    def deliver(self, member: str, attempt: int) -> None:
        deliveries, jobs, egress = self._open()
        delivery = deliveries.begin(member, attempt, self.send_claim_s)
        if delivery is None:
            log.debug(
                "webhook %s attempt %s: not ours to send (done or re-claimed)", member, attempt
            )
            return
        job_id = delivery.job_id
        body = delivery.body or render_body(delivery, jobs)
        if body is None:
            entry = self._entry(delivery, None, "the job expired before its webhook was sent")
            if deliveries.finish(delivery, "failed", entry | {"outcome": "failed"}, None):
                _count_failure(deliveries, "job_expired", final=True)
            log.warning("job %s: webhook %s not sent: the job has expired", job_id, delivery.event)
            return
        if delivery.body is None:
            deliveries.keep_body(delivery, body)
        msg_id = webhook_id(job_id, delivery.event)
        owner = delivery.owner or _owner_of(jobs, job_id)
        headers = {"content-type": "application/json", **sign(body, msg_id, self.secrets(owner))}
        started = time.monotonic()
        reply: Reply | None = None
        error: str | None = None
        refused = False
        reason = ""
        try:
            reply = egress.post(delivery.url, body, headers)
        except DestinationNotAllowedError as exc:
            error, refused, reason = exc.message, True, "destination_not_allowed"
        except FetchTimeoutError as exc:
            error, reason = exc.message, "timeout"
        except JobError as exc:
            error, reason = exc.message, "connection"
        elapsed_ms = (time.monotonic() - started) * 1000
        reply_headers = {k.lower(): v for k, v in reply.headers.items()} if reply else {}
        status = reply.status_code if reply else None
        verdict = judge(
            status,
            reply_headers,
            delivery.step,
            self.settings.webhook_schedule,
            permanent=refused,
        )
        if reply is not None and not 200 <= reply.status_code < 300:
            error = _status_error(reply)
            reason = f"http_{reply.status_code // 100}xx"
        entry = self._entry(delivery, status, error, elapsed_ms) | {"outcome": verdict.outcome}
        if verdict.next_s is not None:
            entry["next_attempt_at"] = _iso(time.time() + verdict.next_s)
        if verdict.note:
            entry["error"] = f"{entry['error']}; {verdict.note}" if entry["error"] else verdict.note
        recorded = deliveries.finish(delivery, verdict.outcome, entry, verdict.next_s)
        if recorded and verdict.outcome != "succeeded":  # once per attempt, by its sender
            _count_failure(deliveries, reason or "unknown", final=verdict.outcome == "failed")
        log.info(
            "job %s: webhook %s attempt %s to %s: %s (%s, %.0f ms)%s",
            job_id,
            delivery.event,
            delivery.attempt,
            delivery.url.split("?", 1)[0],
            verdict.outcome,
            status if status is not None else error,
            elapsed_ms,
            f"; next in {verdict.next_s:.1f}s" if verdict.next_s is not None else "",
        )

    @staticmethod
    def _entry(
        delivery: Delivery, status: int | None, error: str | None, elapsed_ms: float | None = None
    ) -> dict[str, Any]:
        return {
            "event": delivery.event,
            "webhook_id": webhook_id(delivery.job_id, delivery.event),
            "attempt": delivery.attempt,
            "at": _iso(time.time()),
            "status_code": status,
            "error": error,
            "duration_ms": None if elapsed_ms is None else round(elapsed_ms, 1),
        }


def _count_failure(deliveries: DeliveryStore, reason: str, *, final: bool) -> None:
    """``asyncml_webhook_delivery_failures_total{reason}`` and, for the last attempt,
    ``asyncml_webhook_deliveries_abandoned_total``; a count lost to a store error is only
    logged (the delivery itself is already recorded)."""
    try:
        record_webhook_failure(deliveries.redis, reason=reason, final=final)
    except redis.RedisError as exc:
        log.warning("webhook failure not counted: %s", exc)


def _owner_of(jobs: JobStore, job_id: str) -> str:
    """The owner of a job whose delivery record predates the owner field."""
    stored = jobs.get(job_id)
    return stored.owner if stored is not None else PUBLIC_OWNER


def _iso(timestamp: float) -> str:
    """As pydantic writes datetimes in the job JSON: ISO 8601 in UTC with a Z."""
    return dt.datetime.fromtimestamp(timestamp, tz=dt.UTC).isoformat().replace("+00:00", "Z")


def _status_error(reply: Reply) -> str:
    text = " ".join(reply.text.split())[:200]
    where = f" (Location: {reply.headers['location']})" if "location" in reply.headers else ""
    redirect = "; redirects are not followed" if 300 <= reply.status_code < 400 else ""
    return f"HTTP {reply.status_code}{where}{redirect}" + (f": {text}" if text else "")


def register(app: Celery, settings: Settings) -> None:
    courier = Courier(settings)
    lanes = Lanes()

    def send(member: str, attempt: int) -> None:
        try:
            courier.deliver(member, attempt)
        except redis.RedisError as exc:
            # The claim lapses and the sweeper sends this attempt again; nothing is lost.
            log.warning("webhook %s attempt %s: job store unreachable (%s)", member, attempt, exc)

    @app.task(name=WEBHOOK_DELIVER_TASK, ignore_result=True)
    def deliver(member: str, attempt: int) -> None:
        try:
            lane = courier.destination(member)
        except (redis.RedisError, SoftTimeLimitExceeded) as exc:
            # As above: sent again once the claim lapses. The soft limit strikes here only
            # when the store's reply never comes (a partition).
            log.warning("webhook %s attempt %s: job store unreachable (%r)", member, attempt, exc)
            return
        if lane is not None:
            lanes.submit(lane, functools.partial(send, member, attempt))

    from asyncml.worker.sweeper import install

    install(app, settings)


__all__ = ["WEBHOOK_QUEUE", "Courier", "judge", "register", "retry_after"]
