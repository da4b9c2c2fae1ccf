"""The task registry's scripts on a real Redis, and the API's catalog reading it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest
import redis
import redis.asyncio as aredis
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field

import asyncml
from asyncml.api.catalog import TaskCatalog
from asyncml.authoring import definition_of
from asyncml.errors import UnknownTaskError
from asyncml.store.registry import (
    GENERATION_KEY,
    Registry,
    read_manifests,
    read_presence,
)
from tests.conftest import UNIT_DB, require_service

URL = f"redis://127.0.0.1:6379/{UNIT_DB}"


class In(BaseModel):
    word: str = Field(min_length=2, description="a word of two letters or more")
    pair: tuple[int, int] | None = None


class Out(BaseModel):
    ok: bool


def _versions(*versions: str) -> list[dict[str, object]]:
    manifests = []
    for version in versions:

        @asyncml.task("unit.word", queue="unit", version=version)
        class Word:
            def run(self, input: In, ctx: asyncml.Context) -> Out:
                return Out(ok=True)

        manifests.append(definition_of(Word).manifest())
    return manifests


@pytest.fixture
def client() -> Iterator[redis.Redis]:
    require_service("Redis", "127.0.0.1", 6379)
    sync = redis.Redis.from_url(URL)
    sync.flushdb()
    yield sync
    sync.flushdb()
    sync.close()


def test_a_manifest_is_rewritten_only_when_it_changed(client: redis.Redis) -> None:
    registry = Registry(client)
    assert registry.register(_versions("1")) is True
    generation = int(client.get(GENERATION_KEY) or 0)
    assert registry.register(_versions("1")) is False  # every heartbeat: no change
    assert int(client.get(GENERATION_KEY) or 0) == generation
    assert registry.register(_versions("1", "2")) is True
    assert set(registry.manifests()) == {"unit.word@1", "unit.word@2"}
    assert registry.forget("unit.word", "1") == ["unit.word@1"]
    assert set(registry.manifests()) == {"unit.word@2"}
    assert registry.forget("unit.word") == ["unit.word@2"]
    assert registry.forget("unit.word") == []


def test_presence_counts_set_up_workers_and_names_failed_setups(client: redis.Redis) -> None:
    registry = Registry(client)
    registry.register(_versions("1"))
    registry.beat("a@host", ["unit.word@1"])
    registry.beat("b@host", ["unit.word@1"])
    registry.setup_failed("unit.word@1", "b@host", "setup() raised OSError: no model")

    async def read() -> object:
        async with aredis.Redis.from_url(URL) as aclient:
            return (await read_presence(aclient, ["unit.word@1"]))["unit.word@1"]

    presence = asyncio.run(read())
    assert presence.workers == 1  # type: ignore[attr-defined]
    assert presence.setup_errors[0]["worker"] == "b@host"  # type: ignore[attr-defined]
    registry.leave("b@host", ["unit.word@1"])
    assert asyncio.run(read()).setup_errors == []  # type: ignore[attr-defined]


def test_the_catalog_resolves_names_versions_and_validates(client: redis.Redis) -> None:
    Registry(client).register(_versions("9", "10"))

    async def scenario() -> None:
        async with aredis.Redis.from_url(URL) as aclient:
            catalog = TaskCatalog(aclient)
            await catalog.reload()
            assert (await catalog.resolve("unit.word")).version == "10"  # 10 after 9
            pinned = await catalog.resolve("unit.word@9")
            assert pinned.version == "9"
            with pytest.raises(UnknownTaskError, match="registered versions: 10, 9"):
                await catalog.resolve("unit.word@3")
            with pytest.raises(UnknownTaskError, match=r"known tasks: unit\.word"):
                await catalog.resolve("unit.other")
            validator = catalog.validator(pinned)
            validator.check({"word": "ok", "pair": [1, 2]})
            for bad, where in (({"word": "x"}, "word"), ({"word": "ok", "pair": [1]}, "pair")):
                with pytest.raises(RequestValidationError) as caught:
                    validator.check(bad)
                assert caught.value.errors()[0]["loc"][:3] == ("body", "input", where)
            # A task registered after the snapshot is found on the first miss.
            Registry(client).register([_other()])
            assert (await catalog.resolve("unit.other")).name == "unit.other"

    asyncio.run(scenario())


def _other() -> dict[str, object]:
    @asyncml.task("unit.other", queue="unit")
    class Other:
        def run(self, input: In, ctx: asyncml.Context) -> Out:
            return Out(ok=True)

    return definition_of(Other).manifest()


def test_manifests_read_together_with_their_generation(client: redis.Redis) -> None:
    Registry(client).register(_versions("1"))

    async def read() -> tuple[int, dict[str, object]]:
        async with aredis.Redis.from_url(URL) as aclient:
            return await read_manifests(aclient)

    generation, manifests = asyncio.run(read())
    assert generation == 1 and list(manifests) == ["unit.word@1"]
    assert manifests["unit.word@1"].registered_at <= time.time()  # type: ignore[attr-defined]
