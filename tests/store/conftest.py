"""Store fixtures for the room tests.

`STORE_FACTORIES` maps a store's name to an async context manager that yields a fresh,
empty store; `any_store` runs a test once per entry. A new store adds one entry here.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from store.base import RoomStore
from store.memory import MemoryStore

StoreFactory = Callable[[pytest.FixtureRequest], contextlib.AbstractAsyncContextManager[Any]]


@contextlib.asynccontextmanager
async def memory_store(request: pytest.FixtureRequest) -> AsyncIterator[RoomStore]:
    store = MemoryStore()
    try:
        yield store
    finally:
        await store.close()


@contextlib.asynccontextmanager
async def redis_store(request: pytest.FixtureRequest) -> AsyncIterator[RoomStore]:
    # A real redis-server (tests/support/redis.py); skipped off CI when none can be had.
    from store.redis import RedisStore
    from tests.support.redis import flush, require_redis

    url = require_redis()
    await flush(url)
    store = RedisStore(url, "node-test")
    try:
        yield store
    finally:
        await store.close()


STORE_FACTORIES: dict[str, StoreFactory] = {
    "memory": memory_store,
    "redis": redis_store,
}


@pytest.fixture(params=sorted(STORE_FACTORIES))
async def any_store(request: pytest.FixtureRequest) -> AsyncIterator[RoomStore]:
    async with STORE_FACTORIES[request.param](request) as store:
        yield store
