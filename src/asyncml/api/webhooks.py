"""The API's side of webhooks: vet a target when a job is submitted, show the delivery log,
re-queue a delivery. The API never sends a webhook itself; the webhooks workers do."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from pydantic import AnyHttpUrl

from asyncml.api.jobs import BadRequestError
from asyncml.deliveries import read_log, redeliver
from asyncml.errors import ConflictError, JobError
from asyncml.events import WebhookTarget
from asyncml.net.policy import EgressPolicy
from asyncml.net.target import parse_url
from asyncml.schemas import Job
from asyncml.settings import Settings
from asyncml.store import AsyncJobStore

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})


def signing_is_set_up(settings: Settings) -> bool:
    """Webhooks are always signed. Without ASYNCML_WEBHOOK_SECRET asyncml keeps its own
    secret, which only an API on loopback hands out (GET /v1/webhooks/secret)."""
    return bool(settings.webhook_secrets) or settings.host in LOOPBACK_HOSTS


def webhook_target(
    field: str, url: AnyHttpUrl, events: Iterable[str], shape: str, settings: Settings
) -> WebhookTarget:
    """A submitted webhook, checked as far as it can be without DNS (workers check the
    resolved addresses on every attempt)."""
    text = str(url)
    try:
        parsed = parse_url(text)
    except JobError as exc:
        raise BadRequestError(f"{field}: {exc.message}") from None
    host = parsed.raw_host.decode("ascii")
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        ip = None
    if ip is not None:
        problem = EgressPolicy.from_allow_string(settings.egress_allow).refusal(host, ip)
        if problem is not None:
            raise BadRequestError(
                f"{field}: destination not allowed: {host} is a {problem} address; add it to "
                "ASYNCML_EGRESS_ALLOW to send webhooks there"
            )
    if not signing_is_set_up(settings):
        raise BadRequestError(
            f"{field}: webhooks are signed and no ASYNCML_WEBHOOK_SECRET is set on this "
            "server; its operator must set one (whsec_…) before webhooks can be used"
        )
    return WebhookTarget(url=text, events=tuple(dict.fromkeys(events)), shape=shape)


async def with_deliveries(store: AsyncJobStore, job: Job) -> Job:
    if job.webhook is None:
        return job
    return job.model_copy(update={"deliveries": await read_log(store.redis, job.id)})


async def redeliver_latest(store: AsyncJobStore, job: Job) -> None:
    if job.webhook is None:
        raise ConflictError(f"job {job.id} has no webhook")
    if not job.status.is_terminal():
        raise ConflictError(f"job {job.id} is {job.status.value}; redeliver once it has finished")
    outcome = await redeliver(store.redis, job.id)
    if outcome == "busy":
        raise ConflictError(f"a webhook delivery of job {job.id} is being sent right now")
    if outcome != "ok":
        raise ConflictError(f"job {job.id} has no webhook delivery to redeliver ({outcome})")
