"""The loop every service's sweeper runs: sweep, sleep, again, until cancelled."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any


async def sweep_forever(sweep: Callable[[], Awaitable[Any]], interval: float,
                        log: logging.Logger, failed: str) -> None:
    """Run `sweep()` every `interval` seconds forever (run it as a task; cancel it to stop).

    A failing sweep is logged (`failed`, with the traceback) and the loop goes on: the sweeper
    must outlive a bad room or call, or a store hiccup."""
    task = asyncio.current_task()
    while True:
        try:
            await sweep()
        except Exception:
            log.exception(failed)
        if task is not None and task.cancelling():
            # Cancelled, but a callee swallowed it: redis-py writes through
            # asyncio.wait_for, which on Python 3.11 drops a cancellation that lands as the
            # write completes. Stop as asked (App.stop waits for this task).
            raise asyncio.CancelledError
        await asyncio.sleep(interval)
