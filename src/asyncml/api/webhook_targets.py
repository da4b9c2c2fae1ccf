"""The API's side of webhooks: vet a target when a job is submitted, show the delivery log,
re-queue a delivery. The API never sends a webhook itself; the webhooks workers do."""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import AnyHttpUrl

from asyncml.errors import BadRequestError, ConflictError, DestinationNotAllowedError, JobError
from asyncml.net.policy import EgressPolicy
from asyncml.net.target import DEFAULT_PORTS, check, parse_url
from asyncml.schemas import Job
from asyncml.settings import Settings
from asyncml.store import AsyncJobStore
from asyncml.store.deliveries import read_log, redeliver
from asyncml.store.effects import WebhookTarget

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})


def signing_is_set_up(settings: Settings) -> bool:
    """Webhooks are always signed. Without ASYNCML_WEBHOOK_SECRET asyncml keeps its own
    secret, which only an API on loopback hands out (GET /v1/webhooks/secret)."""
    return bool(settings.webhook_secrets) or settings.host in LOOPBACK_HOSTS


def webhook_target(
    field: str, url: AnyHttpUrl, events: Iterable[str], shape: str, settings: Settings
) -> WebhookTarget:
    """A submitted webhook, checked as far as it can be without DNS (workers check the
    resolved addresses on every attempt).

    The egress client's own check judges it, so an address in any spelling the resolver
    would accept (``2130706433``, ``0x7f.1``, ``127.1``) and ``localhost`` are refused here
    exactly as a worker would refuse them, unless ASYNCML_EGRESS_ALLOW opens them."""
    text = str(url)
    policy = EgressPolicy.from_allow_string(settings.egress_allow)
    try:
        check(text, policy, _no_lookup)
    except _NameNeedsLookup:
        # A host name: its addresses are judged by the workers; a port can be now.
        parsed = parse_url(text)
        port = parsed.port or DEFAULT_PORTS[parsed.scheme]
        if port != DEFAULT_PORTS[parsed.scheme] and not policy.may_open_port(parsed.host, port):
            raise BadRequestError(
                f"{field}: port {port} is not allowed for webhooks; add ':{port}' or the "
                "host to ASYNCML_EGRESS_ALLOW to send webhooks there"
            ) from None
    except DestinationNotAllowedError as exc:
        raise BadRequestError(
            f"{field}: {exc.message.split(';', 1)[0]}; add it to ASYNCML_EGRESS_ALLOW to "
            "send webhooks there"
        ) from None
    except JobError as exc:
        raise BadRequestError(f"{field}: {exc.message}") from None
    if not signing_is_set_up(settings):
        raise BadRequestError(
            f"{field}: webhooks are signed and no ASYNCML_WEBHOOK_SECRET is set on this "
            "server; its operator must set one (whsec_…) before webhooks can be used"
        )
    return WebhookTarget(url=text, events=tuple(dict.fromkeys(events)), shape=shape)


class _NameNeedsLookup(Exception):
    """The webhook host is a name; the API does not resolve it."""


def _no_lookup(host: str, port: int) -> list[str]:
    raise _NameNeedsLookup(host)


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
