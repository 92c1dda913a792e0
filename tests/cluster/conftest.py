"""Fixtures for the multi-process cluster tests: a flushed private Redis per test."""

from __future__ import annotations

import pytest

from tests.support.redis import fresh_redis_url


@pytest.fixture
def redis_url() -> str:
    return fresh_redis_url()
