"""Webhook routes: re-send a job's latest event, and the signing secret asyncml keeps."""

from __future__ import annotations

from fastapi import APIRouter, Request

from asyncml.api.deps import AppSettings, Jobs, Owner
from asyncml.api.routes.jobs import ERRORS
from asyncml.api.routes.jobs import _linked as linked
from asyncml.api.webhook_targets import LOOPBACK_HOSTS, redeliver_latest, with_deliveries
from asyncml.errors import ConflictError
from asyncml.schemas import Job, WebhookSecret
from asyncml.store.deliveries import stored_secret
from asyncml.webhooks import signing_secrets

router = APIRouter(tags=["webhooks"])


@router.post("/v1/jobs/{job_id}/webhook/redeliver", status_code=202, responses=ERRORS)
async def redeliver_webhook(job_id: str, request: Request, jobs: Jobs, owner: Owner) -> Job:
    """Send the job's latest webhook event again, with a fresh retry schedule and the same
    ``webhook-id``. 409 if the job has no webhook, has not finished, or a delivery is being
    sent right now."""
    job = await jobs.get(job_id, owner)
    await redeliver_latest(jobs.store, job)
    return linked(request, await with_deliveries(jobs.store, await jobs.get(job_id, owner)))


@router.get("/v1/webhooks/secret", responses=ERRORS)
async def read_webhook_secret(jobs: Jobs, settings: AppSettings, owner: Owner) -> WebhookSecret:
    """The secret that signs the webhooks of the caller's jobs when ``ASYNCML_WEBHOOK_SECRET``
    is unset: each API key has its own, derived from the one kept in the job store. Only an
    API listening on loopback hands it out; a configured secret is never shown."""
    if settings.webhook_secrets:
        raise ConflictError(
            "webhooks are signed with ASYNCML_WEBHOOK_SECRET, which this API does not show"
        )
    if settings.host not in LOOPBACK_HOSTS:
        raise ConflictError(
            "this API listens beyond loopback and does not hand out the signing secret; "
            "set ASYNCML_WEBHOOK_SECRET on the API and the webhooks workers"
        )
    (secret,) = signing_secrets((await stored_secret(jobs.store.redis),), owner)
    return WebhookSecret(secret=secret)
