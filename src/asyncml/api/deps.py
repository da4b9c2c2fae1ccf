"""Request dependencies as ``Annotated`` aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.security.utils import get_authorization_scheme_param
from starlette.datastructures import State

from asyncml.api.catalog import TaskCatalog
from asyncml.api.job_service import JobService
from asyncml.api.limits import RateLimiter
from asyncml.apikeys import PUBLIC_OWNER, KeyRing
from asyncml.errors import UnauthorizedError
from asyncml.settings import Settings

_bearer = HTTPBearer(auto_error=False, description="an API key from ASYNCML_API_KEYS")


async def _service(request: Request) -> JobService:
    service: JobService = request.app.state.jobs
    return service


async def _catalog(request: Request) -> TaskCatalog:
    catalog: TaskCatalog = request.app.state.catalog
    return catalog


async def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def _owner(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> str:
    return caller(request.app.state, credentials.credentials if credentials else None)


def bearer_token(authorization: bytes | None) -> str | None:
    """The key in an ``Authorization: Bearer <key>`` header, read as ``HTTPBearer`` does."""
    if not authorization:
        return None
    scheme, token = get_authorization_scheme_param(authorization.decode("latin-1"))
    if not (scheme and token) or scheme.lower() != "bearer":
        return None
    return token


def caller(state: State, key: str | None) -> str:
    """The caller's key name (``public`` when no keys are configured); every request
    spends one token of that name's rate limit."""
    keys: KeyRing = state.keys
    owner = PUBLIC_OWNER
    if keys.enabled:
        found = keys.owner(key) if key is not None else None
        if found is None:
            raise UnauthorizedError(
                "unknown API key; send a valid one as 'Authorization: Bearer <key>'"
                if key is not None
                else "this API needs an API key: send 'Authorization: Bearer <key>'"
            )
        owner = found
    limiter: RateLimiter | None = state.rate_limiter
    if limiter is not None:
        limiter.take(owner)
    return owner


Jobs = Annotated[JobService, Depends(_service)]
Catalog = Annotated[TaskCatalog, Depends(_catalog)]
AppSettings = Annotated[Settings, Depends(_settings)]
Owner = Annotated[str, Depends(_owner)]
# For routes that need a key but no owner (task and queue listings).
Authenticated = Depends(_owner)
