"""A private redis-server for the test session (never fakeredis).

`REDIS_URL` in the environment wins; otherwise one `redis-server` subprocess is started on a
free loopback port the first time a test asks for Redis, and stopped when the session ends.
When neither can be had, a test needing Redis fails on CI (`CI=true`) and is skipped elsewhere,
with the reason spelled out.

A test's `redis_url` fixture returns `fresh_redis_url()`: the URL of a flushed database.
"""

from __future__ import annotations

import atexit
import os

import pytest
import redis
import redis.asyncio as aioredis

# The launcher is shipped code (benchmarks start a redis-server too); re-exported here.
from server.process import RedisServer as RedisServer
from server.process import RedisUnavailable as RedisUnavailable
from server.process import free_port as free_port

_server: RedisServer | None = None
_failure: str | None = None


def shared_redis_url() -> str:
    """The session's Redis URL; starts the private server on first use."""
    global _server, _failure
    env = os.environ.get("REDIS_URL")
    if env:
        return env
    if _failure is not None:
        raise RedisUnavailable(_failure)
    if _server is None:
        try:
            server = RedisServer()
            server.start()
        except RedisUnavailable as exc:
            _failure = str(exc)
            raise
        _server = server
        atexit.register(server.stop)
    return _server.url


def require_redis() -> str:
    """The URL, or fail (CI) / skip (elsewhere) with the reason."""
    try:
        return shared_redis_url()
    except RedisUnavailable as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"Redis is required on CI: {exc}")
        pytest.skip(f"Redis tests need redis-server or REDIS_URL: {exc}")


def flush_sync(url: str) -> None:
    client = redis.Redis.from_url(url)
    try:
        client.flushdb()
    finally:
        client.close()


async def flush(url: str) -> None:
    client = aioredis.Redis.from_url(url)
    try:
        await client.flushdb()
    finally:
        await client.aclose()


def fresh_redis_url() -> str:
    """The session's Redis, flushed: what a test's `redis_url` fixture returns."""
    url = require_redis()
    flush_sync(url)
    return url
