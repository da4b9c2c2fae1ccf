"""Request dependencies as ``Annotated`` aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from asyncml.api.jobs import JobService
from asyncml.settings import Settings

# Until API keys arrive every caller shares one owner; records already carry it.
PUBLIC_OWNER = "public"


async def _service(request: Request) -> JobService:
    service: JobService = request.app.state.jobs
    return service


async def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def _owner() -> str:
    return PUBLIC_OWNER


Jobs = Annotated[JobService, Depends(_service)]
AppSettings = Annotated[Settings, Depends(_settings)]
Owner = Annotated[str, Depends(_owner)]
