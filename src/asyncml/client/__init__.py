"""The asyncml Python SDK: submit jobs, wait for them, stream their state, run batches.

Over HTTP only (httpx): importing it loads no server, queue or model code.

    from asyncml.client import Client, JobFailedError

    with Client("http://127.0.0.1:5000") as client:
        job = client.submit("audio.length", {"url": "https://example.com/a.wav"})
        try:
            print(job.result(timeout=60)["audio_length"])
        except JobFailedError as exc:
            print("failed:", exc.code)

A local file in an input (``{"url": Path("a.wav")}``) is uploaded first (``upload``);
``priority``, ``deadline``/``start_within_s`` and ``timeout_s`` schedule a job.
``AsyncClient`` is the same for asyncio. The error tree is in ``asyncml.client.errors``.
"""

from __future__ import annotations

from typing import Any

from asyncml.client.aio import AsyncClient, AsyncJob
from asyncml.client.errors import (
    APIConnectionError,
    APIError,
    AuthenticationError,
    ClientError,
    ConflictError,
    JobFailedError,
    NotFoundError,
    TimeoutError,
    UnavailableError,
    ValidationError,
)
from asyncml.client.files import FileRef
from asyncml.client.models import JobErrorInfo, JobInfo, JobStatus, Outcome, TaskInfo
from asyncml.client.sync import Client, Job

_WEBHOOK_NAMES = {
    "verify_webhook": "verify",
    "WebhookVerificationError": "WebhookVerificationError",
}


def __getattr__(name: str) -> Any:
    # Webhook signature checks live in asyncml.webhooks (standard library only); they are
    # re-exported here lazily so a receiver needs one import and the SDK loads them only
    # when asked, whatever that module grows to import later.
    if name in _WEBHOOK_NAMES:
        try:
            import asyncml.webhooks as webhooks
        except ImportError as exc:  # an asyncml without webhooks
            raise AttributeError(f"{name}: this asyncml has no webhooks module") from exc
        return getattr(webhooks, _WEBHOOK_NAMES[name])
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "APIConnectionError",
    "APIError",
    "AsyncClient",
    "AsyncJob",
    "AuthenticationError",
    "Client",
    "ClientError",
    "ConflictError",
    "FileRef",
    "Job",
    "JobErrorInfo",
    "JobFailedError",
    "JobInfo",
    "JobStatus",
    "NotFoundError",
    "Outcome",
    "TaskInfo",
    "TimeoutError",
    "UnavailableError",
    "ValidationError",
]
