"""What the media engines close in the background (peer connections, room sessions), and the
task they hand callers to await it.

The engines stop media at once and let connections close later; ``Background`` holds those
tasks until done (asyncio keeps only weak references to tasks) and can wait for them all.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any


class Background:
    def __init__(self) -> None:
        self.tasks: set[asyncio.Future[Any]] = set()

    def track(self, task: asyncio.Future[Any]) -> None:
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def pending(self) -> list[asyncio.Future[Any]]:
        return [t for t in self.tasks if not t.done()]

    async def drain(self) -> None:
        """Wait until nothing is left, including what finishing tasks started."""
        while self.tasks:
            await asyncio.gather(*list(self.tasks), return_exceptions=True)


def done() -> asyncio.Task[None]:
    """A finished piece of background work."""
    # A Task, not a bare Future: callers may treat it as one (set_name, cancel).
    return asyncio.ensure_future(_nothing())


async def _nothing() -> None:
    return None


async def quiet_gather(waits: list[Any]) -> None:
    """Wait for all of ``waits``; their failures are the closers' business, not the caller's."""
    with contextlib.suppress(Exception):
        await asyncio.gather(*waits, return_exceptions=True)


async def cancel_and_wait(task: asyncio.Task[None] | None) -> None:
    """Cancel ``task`` (a clock's loop; None: nothing) and wait until it ended."""
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
