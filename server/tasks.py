"""Background work the server starts and owns: logged when it fails, cancelled at stop."""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import Any

log = logging.getLogger(__name__)


class TaskSet:
    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, coro: Awaitable[Any], name: str) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        task.set_name(name)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def follow(self, call: Callable[..., Any], *args: Any) -> None:
        """Call a sync-or-async method of another part without waiting for it; log failures.

        A future it returns is that part's own work (the media engine closing peers): it
        finishes it even at stop, so it is only watched. A coroutine becomes a task of ours.
        """
        name = getattr(call, "__name__", "call")
        try:
            result = call(*args)
        except Exception:
            log.exception("%s failed", name)
            return
        if isinstance(result, asyncio.Future):
            result.add_done_callback(_log_failure)
        elif inspect.isawaitable(result):
            self.spawn(result, name=name)

    async def cancel_all(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("background task %s failed", task.get_name(), exc_info=task.exception())


def _log_failure(future: asyncio.Future[Any]) -> None:
    if not future.cancelled() and future.exception() is not None:
        log.error("background work failed", exc_info=future.exception())


async def maybe_await(value: Any) -> Any:
    if inspect.isawaitable(value):
        return await value
    return value
