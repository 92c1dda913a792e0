"""The user-event channel of a Redis cluster (`vr:user-events`, store/keys.py): every node
publishes its personal batches here and hands the other nodes' batches to its sink. A call's
batches are published by the call store's commit script into the same channel
(store/user_events.py has the message format)."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from store.pubsub import Listening
from store.redis import RedisStore
from store.user_events import UserBatch, pack_batch, unpack_batch

log = logging.getLogger(__name__)

POLL_INTERVAL = 1.0
STOP_TIMEOUT = 5.0

UserSink = Callable[[UserBatch], Awaitable[None] | None]


class UserChannel:
    def __init__(self, store: RedisStore) -> None:
        self.store = store
        self.node_id = store.node_id
        self.channel = store.keys.user_events
        self._sink: UserSink | None = None
        self._listening = Listening("user-events-listener")

    async def publish(self, batch: UserBatch) -> None:
        await self.store.redis.publish(self.channel, pack_batch(batch, self.node_id))

    async def start(self, sink: UserSink) -> None:
        self._sink = sink
        listening = self._listening
        await listening.start(lambda: self.store.subscribe(
            self.channel, self._handle, running=lambda: listening.running,
            subscribed=listening.subscribed, poll=POLL_INTERVAL))

    async def close(self) -> None:
        await self._listening.stop(STOP_TIMEOUT)
        self._sink = None

    async def _handle(self, data: bytes) -> None:
        try:
            batch = unpack_batch(data)
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("malformed user event batch dropped: %s", exc)
            return
        if batch.origin == self.node_id or self._sink is None:
            return  # this node delivered its own batches already
        try:
            result = self._sink(batch)
            if inspect.isawaitable(result):
                await result
        except (RedisConnectionError, RedisTimeoutError):
            raise
        except Exception:
            log.exception("delivering another node's user events failed")
