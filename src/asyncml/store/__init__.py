"""Job records in Redis (or the embedded Valkey): the source of truth for a job.

One hash per job, written *before* its task is published, so an unknown id is a plain 404.
Every state change is one Lua script that checks the current state first: a late result
cannot overwrite a cancel, a redelivered task cannot run a finished job again, and every
change is published on the job's channel so waiters wake without polling.

``JobStore`` is the synchronous face used by workers; ``AsyncJobStore`` the asyncio face
used by the API. Both share the key layout, the scripts and the record codec below.

Owns every key and Lua script in Redis: job records, the registry, uploads, deadlines
and the webhook outbox. Must not import ``asyncml.api``, ``asyncml.worker``, Celery or
kombu: API and workers build on it, never the reverse.
"""

from asyncml.store.aio import AsyncJobStore, BacklogFull, Enqueue, IdempotencyConflict
from asyncml.store.keys import (
    CANCEL_CHANNEL,
    EVENTS_PATTERN,
    PREFIX,
    cache_key,
    events_channel,
    idempotency_key,
    job_key,
    owner_index_key,
)
from asyncml.store.records import (
    Claim,
    StoredJob,
    decode,
    decode_new,
    new_record,
    state_keys,
)
from asyncml.store.sync import JobStore

__all__ = [
    "CANCEL_CHANNEL",
    "EVENTS_PATTERN",
    "PREFIX",
    "AsyncJobStore",
    "BacklogFull",
    "Claim",
    "Enqueue",
    "IdempotencyConflict",
    "JobStore",
    "StoredJob",
    "cache_key",
    "decode",
    "decode_new",
    "events_channel",
    "idempotency_key",
    "job_key",
    "new_record",
    "owner_index_key",
    "state_keys",
]
