"""The client's events: what arrives unasked, kept for the subscribers and for `wait_for`.

`EventLog` takes every event once (`emit`) and hands it to each `EventStream` (one queue per
subscriber, `async for`), and keeps the newest `history` of them so that `wait_for` finds an
event that arrived before it was asked for. No sockets here: the transport feeds it.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from client.errors import ClientError

Event = dict[str, Any]

DEFAULT_HISTORY = 2000
DEFAULT_QUEUE = 10_000


class EventStream:
    """One subscriber's queue of events; iterate with `async for`.

    The queue exists from the moment `VoiceClient.events()` returns, so no
    event is missed between subscribing and the first `__anext__`. When full,
    the oldest events are dropped (counted in `dropped`).
    """

    def __init__(self, log: EventLog, maxsize: int) -> None:
        self._log = log
        self._queue: deque[Event | None] = deque()
        self._maxsize = maxsize
        self._ready = asyncio.Event()
        self.dropped = 0

    def _put(self, event: Event | None) -> None:
        if event is not None and len(self._queue) >= self._maxsize:
            self._queue.popleft()
            self.dropped += 1
        self._queue.append(event)
        self._ready.set()

    def __aiter__(self) -> EventStream:
        return self

    async def __anext__(self) -> Event:
        while not self._queue:
            self._ready.clear()
            await self._ready.wait()
        event = self._queue.popleft()
        if event is None:  # the client closed for good
            self._queue.append(None)
            raise StopAsyncIteration
        return event

    async def get(self, timeout: float | None = None) -> Event:
        """The next event, or `ClientError("timeout")`; `ClientError("closed")` at the end."""
        try:
            return await asyncio.wait_for(self.__anext__(), timeout)
        except TimeoutError:
            raise ClientError("timeout", f"no event within {timeout} s") from None
        except StopAsyncIteration:
            raise ClientError("closed", "the client is closed") from None

    def close(self) -> None:
        """Unsubscribe: queued events are dropped and the iteration ends."""
        self._log.streams.discard(self)
        self._queue.clear()
        self._put(None)


class EventLog:
    """Every event, numbered: to the streams, to the waiters, into the history."""

    def __init__(self, history: int = DEFAULT_HISTORY) -> None:
        self.streams: set[EventStream] = set()
        self._history: deque[tuple[int, Event]] = deque(maxlen=max(history, 1))
        self._keep_history = history > 0
        self._consumed: set[int] = set()
        self._waiters: set[asyncio.Event] = set()
        self._seq = 0
        self.ended = False

    def emit(self, event: Event) -> None:
        self._seq += 1
        if self._keep_history:
            self._history.append((self._seq, event))
        for stream in self.streams:
            stream._put(event)
        for waiter in self._waiters:
            waiter.set()

    def end(self) -> None:
        """No more events: streams finish, waiters give up."""
        self.ended = True
        for stream in list(self.streams):
            stream._put(None)
        for waiter in self._waiters:
            waiter.set()

    def subscribe(self, maxsize: int = DEFAULT_QUEUE) -> EventStream:
        stream = EventStream(self, maxsize)
        if self.ended:
            stream._put(None)
        else:
            self.streams.add(stream)
        return stream

    def mark(self) -> int:
        return self._seq

    async def wait_for(
        self,
        type: str,
        predicate: Callable[[Event], bool] | None = None,
        timeout: float = 5.0,
        *,
        room: str | None = None,
        since: int | None = None,
    ) -> Event:
        """See `VoiceClient.wait_for`."""
        if not self._keep_history:
            raise RuntimeError("wait_for needs history > 0")
        start = 0 if since is None else since
        deadline = time.monotonic() + timeout
        wake = asyncio.Event()
        self._waiters.add(wake)
        try:
            while True:
                wake.clear()
                found = self._take(start, type, room, predicate)
                if found is not None:
                    return found
                if self.ended:
                    raise ClientError("closed", f"closed while waiting for {type!r}")
                start = max(start, self._history[-1][0] if self._history else 0)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise ClientError("timeout", f"no {type!r} event within {timeout} s")
                try:
                    await asyncio.wait_for(wake.wait(), remaining)
                except TimeoutError:
                    raise ClientError("timeout", f"no {type!r} event within {timeout} s") from None
        finally:
            self._waiters.discard(wake)

    def _take(self, start: int, type: str, room: str | None,
              predicate: Callable[[Event], bool] | None) -> Event | None:
        """The oldest matching event after `start` that no earlier wait returned."""
        for seq, event in self._history:
            if seq <= start or seq in self._consumed:
                continue
            if event.get("type") != type:
                continue
            if room is not None and event.get("room") != room:
                continue
            if predicate is not None and not predicate(event):
                continue
            self._consumed.add(seq)
            if len(self._consumed) > 4 * len(self._history) + 64:
                oldest = self._history[0][0] if self._history else self._seq
                self._consumed = {s for s in self._consumed if s >= oldest}
            return event
        return None
