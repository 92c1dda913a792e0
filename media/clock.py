"""The deadlines a media clock ticks on (a room's mix, a call's decoded path).

Absolute deadlines from ``loop.time()``: the clock never drifts and never waits for anyone's
audio. Further behind than MAX_BEHIND_TICKS, it skips ticks instead of racing to catch up: a
burst of back-to-back ticks would only flood listeners' (bounded) queues.
"""

from __future__ import annotations

import asyncio

MAX_BEHIND_TICKS = 5


class Deadlines:
    """One deadline every ``period`` seconds from now (made inside the clock's task)."""

    def __init__(self, period: float) -> None:
        self.period = period
        self._next = asyncio.get_running_loop().time()

    async def wait(self) -> tuple[float, int]:
        """Sleep until the next deadline. Returns how late it is (before skipping) and how
        many ticks were skipped (0 unless it was more than MAX_BEHIND_TICKS late)."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        if self._next > now:
            await asyncio.sleep(self._next - now)
            now = loop.time()
        behind = now - self._next
        skip = 0
        if behind > MAX_BEHIND_TICKS * self.period:
            skip = int(behind / self.period)
            self._next += skip * self.period
        return behind, skip

    def advance(self) -> None:
        """The tick is done: the next deadline is a period on."""
        self._next += self.period
