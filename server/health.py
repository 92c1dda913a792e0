"""Whether this node can take work, for `GET /healthz`: its store answers.

A node whose Redis stopped answering serves nothing but errors, so it must say so (503) for
a load balancer to send clients elsewhere, and say `ok` again by itself once the store is
back: the store is pinged every `interval` seconds, each ping bounded by `timeout`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)

# Seconds between pings, and the most a ping may take: Redis answers one in well under a
# millisecond, so one that takes seconds means the store is in trouble.
HEALTH_INTERVAL = 1.0
HEALTH_TIMEOUT = 2.0


class StoreHealth:
    def __init__(self, ping: Callable[[], Awaitable[None]], *,
                 timeout: float = HEALTH_TIMEOUT, interval: float = HEALTH_INTERVAL) -> None:
        self.ping = ping
        self.timeout = timeout
        self.interval = interval
        self._failure: str | None = None
        self._asking_since: float | None = None

    def problem(self) -> str | None:
        """Why the node cannot take work now, or None."""
        if self._failure is not None:
            return self._failure
        since = self._asking_since
        if since is not None and asyncio.get_running_loop().time() - since > self.timeout:
            return "the store does not answer"
        return None

    async def run(self) -> None:
        """Ping for ever (a task; cancel it to stop)."""
        loop = asyncio.get_running_loop()
        while True:
            self._asking_since = loop.time()
            try:
                async with asyncio.timeout(self.timeout):
                    await self.ping()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if self._failure is None:
                    log.warning("the store does not answer (%s): /healthz says 503",
                                str(exc) or type(exc).__name__)
                self._failure = "the store does not answer"
            else:
                if self._failure is not None:
                    log.warning("the store answers again: /healthz says ok")
                self._failure = None
            finally:
                self._asking_since = None
            await asyncio.sleep(self.interval)
