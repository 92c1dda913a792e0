"""Token bucket: burst, sustained rate, refill cap, clocks that step back."""

from __future__ import annotations

import pytest

from protocol.ratelimit import TokenBucket
from server.settings import DEFAULT_BURST, DEFAULT_RATE


def count_allowed(bucket: TokenBucket, times: list[float]) -> int:
    return sum(bucket.allow(t) for t in times)


def test_burst_then_refused() -> None:
    bucket = TokenBucket(rate=10, burst=5)
    assert count_allowed(bucket, [0.0] * 5) == 5
    assert not bucket.allow(0.0)


def test_refills_at_rate() -> None:
    bucket = TokenBucket(rate=10, burst=5)
    count_allowed(bucket, [0.0] * 5)
    assert not bucket.allow(0.05)  # half a token
    assert bucket.allow(0.1)
    assert not bucket.allow(0.1)


def test_refill_is_capped_at_burst() -> None:
    bucket = TokenBucket(rate=10, burst=5)
    bucket.allow(0.0)
    assert count_allowed(bucket, [1000.0] * 10) == 5


def test_sustained_rate_over_time() -> None:
    bucket = TokenBucket(rate=50, burst=100)
    # 200 requests a second for 10 s: burst plus rate * duration pass, within a token.
    times = [i / 200 for i in range(2000)]
    allowed = count_allowed(bucket, times)
    assert 100 + 50 * 9.99 - 1 <= allowed <= 100 + 50 * 10 + 1


def test_clock_stepping_back_mints_nothing() -> None:
    bucket = TokenBucket(rate=10, burst=2)
    count_allowed(bucket, [100.0, 100.0])
    assert not bucket.allow(50.0)
    assert not bucket.allow(100.0)
    assert bucket.allow(100.1)


def test_defaults_let_a_normal_client_through_and_stop_a_flood() -> None:
    normal = TokenBucket(DEFAULT_RATE, DEFAULT_BURST)
    # A busy but normal client: a join burst of 20, then 10 requests a second for a minute.
    times = [0.0] * 20 + [1 + i / 10 for i in range(600)]
    assert count_allowed(normal, times) == len(times)
    flood = TokenBucket(DEFAULT_RATE, DEFAULT_BURST)
    # A flood: 10,000 requests within one second.
    allowed = count_allowed(flood, [i / 10_000 for i in range(10_000)])
    assert allowed <= DEFAULT_BURST + DEFAULT_RATE + 1


@pytest.mark.parametrize(("rate", "burst"), [(0, 1), (-1, 5), (1, 0)])
def test_refuses_nonsense_settings(rate: float, burst: int) -> None:
    with pytest.raises(ValueError):
        TokenBucket(rate, burst)


def test_resize_keeps_what_was_earned_up_to_the_new_burst() -> None:
    bucket = TokenBucket(rate=10, burst=10)
    assert count_allowed(bucket, [0.0] * 2) == 2  # eight left
    bucket.resize(5, 4, 0.0)  # split over two nodes: at most four now
    assert count_allowed(bucket, [0.0] * 6) == 4
    assert not bucket.allow(0.1)  # half a token at the new rate
    assert bucket.allow(0.2)
    bucket.resize(10, 10, 0.2)  # alone again: the burst grows back by refilling, not at once
    assert not bucket.allow(0.2)
    assert count_allowed(bucket, [1.2] * 12) == 10
    with pytest.raises(ValueError):
        bucket.resize(0, 1, 2.0)
