"""Fixtures for the multi-process cluster tests: a flushed private Redis per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.redis import flush_sync, require_redis


@pytest.fixture
def redis_url() -> Iterator[str]:
    url = require_redis()
    flush_sync(url)
    yield url
