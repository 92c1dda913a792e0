"""Token buckets for request rates (per connection, per user) and for refused frames.
Pure: the caller passes `now`."""

from __future__ import annotations


class TokenBucket:
    """`burst` tokens at most, refilled at `rate` per second; each request takes one.

    The server's values (and their defaults) are in `server.settings`."""

    __slots__ = ("_last", "_tokens", "burst", "rate")

    def __init__(self, rate: float, burst: int) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self.rate = rate
        self.burst = burst
        self._tokens = float(burst)
        self._last: float | None = None

    def allow(self, now: float) -> bool:
        """Take one token if there is one; False means the request is over the rate."""
        self._refill(now)
        if self._tokens >= 1.0 - 1e-9:  # tolerate float drift in the refill sum
            self._tokens = max(0.0, self._tokens - 1.0)
            return True
        return False

    def resize(self, rate: float, burst: int, now: float) -> None:
        """Go on at a new rate and burst: what was earned until `now` is kept, up to the new
        burst (a user's budget split over more nodes shrinks at once)."""
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self._refill(now)
        self.rate = rate
        self.burst = burst
        self._tokens = min(self._tokens, float(burst))

    def _refill(self, now: float) -> None:
        if self._last is not None and now > self._last:
            self._tokens = min(float(self.burst), self._tokens + (now - self._last) * self.rate)
        # A clock that steps backwards must not mint tokens, nor freeze the bucket.
        if self._last is None or now > self._last:
            self._last = now

    def full(self, now: float) -> bool:
        """Whether the bucket has refilled by `now`: it is then no different from a new one
        (a table of buckets may forget it)."""
        if self._last is None:
            return True
        refill = max(0.0, now - self._last) * self.rate
        return self._tokens + refill >= self.burst - 1e-9
