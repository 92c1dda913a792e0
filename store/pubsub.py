"""One subscription loop for every channel the project listens to (the store's event channel,
a cluster node's inbox), over either transport: redis-py's PubSub or the store's own RESP
connection (`store.resp.RespFeed`, ~100 µs of Python less per message)."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Protocol

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

log = logging.getLogger(__name__)

RECONNECT_DELAY = 0.2


class Feed(Protocol):
    """One connection subscribed to one channel; a lost connection raises from either call."""

    async def open(self, timeout: float) -> None:
        """Connect and subscribe; returns once Redis confirmed the subscription."""

    async def receive(self, timeout: float) -> list[bytes]:
        """The messages that arrived, waiting up to `timeout` seconds for one ([]: none)."""

    async def close(self) -> None: ...


# A new feed on a channel.
FeedFactory = Callable[[str], Feed]
MessageHandler = Callable[[bytes], Awaitable[None] | None]


class RedisPyFeed:
    """A `Feed` through redis-py's PubSub (any connection redis-py supports)."""

    def __init__(self, redis: aioredis.Redis, channel: str) -> None:
        self.channel = channel
        self._pubsub: Any = redis.pubsub(ignore_subscribe_messages=True)

    async def open(self, timeout: float) -> None:
        await self._pubsub.subscribe(self.channel)

    async def receive(self, timeout: float) -> list[bytes]:
        message = await self._pubsub.get_message(timeout=timeout)
        if message is not None and message.get("type") == "message":
            return [message["data"]]
        return []

    async def close(self) -> None:
        await self._pubsub.aclose()


async def subscribe_forever(
    feeds: FeedFactory,
    channel: str,
    handle: MessageHandler,
    *,
    running: Callable[[], bool],
    subscribed: asyncio.Event,
    poll: float,
    resubscribed: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """Hand each message of `channel` to `handle` while `running()`; resubscribe when Redis
    drops the connection (then `resubscribed()`: what was published meanwhile is lost).

    `subscribed` is set once listening, and also when Redis cannot be reached, so that a
    start never hangs on a dead Redis. Polls every `poll` seconds to notice `running()`
    (redis-py can swallow a cancellation that lands mid-command).
    """
    first = True
    while running():
        feed = feeds(channel)
        lost = False
        try:
            await feed.open(poll * 10)
            if not first and resubscribed is not None:
                await resubscribed()
            first = False
            subscribed.set()
            while running():
                for data in await feed.receive(poll):
                    result = handle(data)
                    if inspect.isawaitable(result):
                        await result
        except (RedisConnectionError, RedisTimeoutError, OSError, TimeoutError) as exc:
            log.warning("subscription to %s lost (%s); resubscribing", channel, exc)
            lost = True
        finally:
            with contextlib.suppress(Exception):
                await feed.close()
        if lost:
            subscribed.set()
            if running():
                await asyncio.sleep(RECONNECT_DELAY)


class Listening:
    """One channel's listener in the background (a store's event channel, the user-event
    channel): started once, until `stop`. The listener polls `running` and sets
    `subscribed` (`subscribe_forever`)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.running = False
        self.subscribed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self, listen: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Run `listen()` unless it runs already; returns once it subscribed."""
        if self._task is None:
            self.running = True
            self._task = asyncio.create_task(listen(), name=self.name)
            await self.subscribed.wait()

    async def stop(self, timeout: float) -> None:
        """Stop listening; waits `timeout` seconds at most for the listener to end."""
        self.running = False
        if self._task is not None:
            self._task.cancel()
            await asyncio.wait([self._task], timeout=timeout)
            self._task = None
