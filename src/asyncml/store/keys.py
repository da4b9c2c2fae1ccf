"""Every key and channel asyncml uses in Redis, under one prefix: the map of the job store.

Nothing else spells a key. Lua scripts get their keys as ``KEYS`` from the callers, or the
prefixes below where a script walks many jobs (``job_key("")`` is the prefix of them all).
"""

from __future__ import annotations

PREFIX = "asyncml"

# Jobs: the record (a hash), each owner's index, idempotency keys, a running batch.


def job_key(job_id: str) -> str:
    return f"{PREFIX}:job:{job_id}"


def owner_index_key(owner: str) -> str:
    return f"{PREFIX}:jobs:{owner}"


def idempotency_key(owner: str, key: str) -> str:
    return f"{PREFIX}:idem:{owner}:{key}"


def batch_key(job_id: str) -> str:
    """The jobs of the batch a worker runs, under its first job's id: what a prefork pool's
    parent reads to record all of them when it kills the child at the hard time limit."""
    return f"{PREFIX}:batch:{job_id}"


def cache_key(name: str) -> str:
    return f"{PREFIX}:cache:{name}"


# Queued jobs with a start deadline, scored with it: the deadline sweeper ends those still
# queued past it (asyncml.store.deadlines); the start script checks the record itself.
DEADLINES_KEY = f"{PREFIX}:deadlines"
DEADLINES_LOCK_KEY = f"{PREFIX}:deadlines:lock"

# State changes: a pub/sub channel per job, the job's event log (a stream).
EVENTS_PATTERN = f"{PREFIX}:ev:*"


def events_channel(job_id: str) -> str:
    return f"{PREFIX}:ev:{job_id}"


def event_log_key(job_id: str) -> str:
    return f"{PREFIX}:log:{job_id}"


# A running job's id is published here when it is canceled: a solo worker process listens
# once for all jobs (see asyncml.worker.cancels) instead of subscribing per job.
CANCEL_CHANNEL = f"{PREFIX}:cancel"

# Webhooks: the outbox (a sorted set of deliveries by when due), each delivery's record,
# each job's delivery log, the channel that wakes the sweeper, the signing secret.
WEBHOOK_DUE_KEY = f"{PREFIX}:wh:due"
WEBHOOK_KICK_CHANNEL = f"{PREFIX}:wh:kick"
WEBHOOK_PREFIX = f"{PREFIX}:wh:d:"
WEBHOOK_SECRET_KEY = f"{PREFIX}:webhook:secret"


def delivery_key(member: str) -> str:
    return WEBHOOK_PREFIX + member


def delivery_log_key(job_id: str) -> str:
    return f"{PREFIX}:wh:log:{job_id}"


# Metric counters (one hash), and per queue the jobs waiting and running (sorted sets by
# time: the backlog cap, queue positions and the republisher read them).
METRICS_KEY = f"{PREFIX}:metrics"
QUEUED_PREFIX = f"{PREFIX}:queued:"
RUNNING_PREFIX = f"{PREFIX}:running:"


def queued_key(queue: str) -> str:
    return f"{QUEUED_PREFIX}{queue}"


def running_key(queue: str) -> str:
    return f"{RUNNING_PREFIX}{queue}"


def workers_key(queue: str) -> str:
    """The worker processes consuming ``queue``, by their last heartbeat."""
    return f"{PREFIX}:workers:{queue}"


def republish_seen_key(queue: str) -> str:
    return f"{PREFIX}:republish:seen:{queue}"


def republish_lock_key(queue: str) -> str:
    return f"{PREFIX}:republish:lock:{queue}"


# Uploaded files.


def file_key(file_id: str) -> str:
    return f"{PREFIX}:file:{file_id}"


def file_meta_key(file_id: str) -> str:
    return f"{PREFIX}:file:{file_id}:meta"


def file_partial_key(file_id: str) -> str:
    return f"{PREFIX}:file:{file_id}:partial"


# The task registry.
REGISTRY_PREFIX = f"{PREFIX}:registry"
MANIFESTS_KEY = f"{REGISTRY_PREFIX}:manifests"
HASHES_KEY = f"{REGISTRY_PREFIX}:hashes"
REGISTERED_KEY = f"{REGISTRY_PREFIX}:registered"
GENERATION_KEY = f"{REGISTRY_PREFIX}:generation"


def task_workers_key(task_key: str) -> str:
    return f"{REGISTRY_PREFIX}:workers:{task_key}"


def task_errors_key(task_key: str) -> str:
    return f"{REGISTRY_PREFIX}:errors:{task_key}"
