"""A node's HTTP listeners, one `ListenFeed` (media.listen) per room, and where each feed's
packets come from.

- The room's media is on this node (one node, or this node owns the room in a cluster): the
  feed is a tap on the room's session (`MediaEngine.add_tap`), which ticks even when nobody
  has connected WebRTC media.
- Another node owns the room's media: this node pulls the owner's own listen.ogg once
  (server/stream_proxy.py) and feeds every local listener from it. Chosen over the
  node-to-node UDP relay of edge WebRTC listeners because it needs nothing but the HTTP port
  every node already serves, TCP gives order and flow control for free, and an HTTP listener's
  player buffers seconds, so TCP's retransmission delay costs nothing audible.

When a feed's source ends (the room closed, the owner died, this node lost the room), the hub
looks the room up: gone, the listeners' streams end; still there, the feed is attached to
whichever node serves the room now and the listeners' streams go on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, runtime_checkable

from media.listen import BATCH_TICKS, Listener, ListenerSink, ListenFeed
from media.taps import MixTap
from protocol.errors import ErrorCode, ProtocolError
from rooms.model import Room

log = logging.getLogger(__name__)

# A feed whose source ended while its room lives on is attached again (the owner died: a
# survivor takes the room once the owner's heartbeat has lapsed, 3 s). Tries are this far
# apart when a source did not last; listeners go when none lasted for this long.
REATTACH_DELAY = 0.5
REATTACH_SECONDS = 10.0
# A source that lasted this long was working: its end starts a new outage.
LASTED_SECONDS = 1.0


@runtime_checkable
class TapEngine(Protocol):
    """media.engine.MediaEngine, as the hub uses it."""

    def add_tap(self, room: Room, tap: MixTap) -> None: ...

    def remove_tap(self, room_id: str, tap: MixTap) -> Awaitable[None] | None: ...


@runtime_checkable
class MediaLocator(Protocol):
    """The cluster, as the hub uses it: which node serves a room's media, and its HTTP
    address."""

    node_id: str

    async def media_node(self, room_id: str) -> str: ...

    async def http_address(self, node_id: str) -> tuple[str, int] | None: ...


# (host, port, room id, feed): feeds the owner's packets to ``feed`` until the upstream ends
Puller = Callable[[str, int, str, ListenFeed], Awaitable[None]]


class _Tap:
    """The session's tap for one feed; the session's end goes to the hub, not the feed."""

    __slots__ = ("feed", "hub")

    def __init__(self, hub: ListenHub, feed: ListenFeed) -> None:
        self.hub = hub
        self.feed = feed

    def mixed(self, tick: int, payload: bytes) -> None:
        self.feed.mixed(tick, payload)

    def received(self, user: str, tick: int, seq: int, payload: bytes) -> None:
        return None

    def ended(self) -> None:
        self.hub.source_ended(self.feed)


class ListenHub:
    def __init__(
        self,
        *,
        media: TapEngine | None,
        get_room: Callable[[str], Awaitable[Room | None]],
        cluster: MediaLocator | None = None,
        pull: Puller | None = None,
        batch_ticks: int = BATCH_TICKS,
    ) -> None:
        self.media = media
        self.get_room = get_room
        self.cluster = cluster
        self.pull = pull
        self.batch_ticks = batch_ticks
        self.feeds: dict[str, ListenFeed] = {}
        self._taps: dict[ListenFeed, _Tap] = {}
        self._pulls: dict[ListenFeed, asyncio.Task[None]] = {}
        self._attached_at: dict[ListenFeed, float] = {}
        self._retry_until: dict[ListenFeed, float] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self.closed = False

    def listeners(self, room_id: str | None = None) -> int:
        if room_id is not None:
            feed = self.feeds.get(room_id)
            return len(feed) if feed is not None else 0
        return sum(len(feed) for feed in self.feeds.values())

    async def listen(self, room: Room, sink: ListenerSink, *, local_only: bool = False) -> Listener:
        """A new listener of ``room``'s mix. Raises ProtocolError when no node can serve it
        (``local_only``: a relay's request; only this node's own media will do)."""
        if self.closed:
            raise ProtocolError(ErrorCode.INTERNAL, "the server is stopping")
        feed = self.feeds.get(room.id)
        if feed is None:
            feed = ListenFeed(room.id, batch_ticks=self.batch_ticks, on_empty=self._empty)
            await self._attach(room, feed, local_only=local_only)
            # Another request may have attached a feed meanwhile: one feed per room.
            current = self.feeds.get(room.id)
            if current is not None and current is not feed:
                self._detach(feed)
                feed = current
            else:
                self.feeds[room.id] = feed
        return feed.add(sink)

    def leave(self, listener: Listener, room_id: str) -> None:
        feed = self.feeds.get(room_id)
        if feed is not None:
            feed.remove(listener)

    async def close(self) -> None:
        """The node is stopping: every listener's stream ends."""
        self.closed = True
        for feed in list(self.feeds.values()):
            self._end(feed)
        for task in list(self._pulls.values()) + list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._pulls.values(), *self._tasks, return_exceptions=True)

    # --- sources ---------------------------------------------------------------------------

    async def _attach(self, room: Room, feed: ListenFeed, *, local_only: bool) -> None:
        self._attached_at[feed] = asyncio.get_running_loop().time()
        owner = None
        if self.cluster is not None:
            owner = await self.cluster.media_node(room.id)
            if owner == self.cluster.node_id:
                owner = None
            elif local_only:  # a relay's request reached a node that lost the room: no chains
                raise ProtocolError(ErrorCode.INTERNAL,
                                    "this node does not serve the room's media")
        if owner is None:
            if self.media is None:
                raise ProtocolError(ErrorCode.INTERNAL, "this node serves no media")
            tap = _Tap(self, feed)
            self.media.add_tap(room, tap)
            self._taps[feed] = tap
            return
        assert self.cluster is not None
        address = await self.cluster.http_address(owner)
        if address is None or self.pull is None:
            raise ProtocolError(ErrorCode.INTERNAL,
                                f"the room's media node {owner} cannot be reached")
        host, port = address
        task = asyncio.create_task(self._run_pull(host, port, room.id, feed),
                                   name=f"listen-pull-{room.id}")
        self._pulls[feed] = task

    async def _run_pull(self, host: str, port: int, room_id: str, feed: ListenFeed) -> None:
        assert self.pull is not None
        try:
            await self.pull(host, port, room_id, feed)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.info("room %s: pulling the mix from %s:%d ended: %s", room_id, host, port, exc)
        if self._pulls.get(feed) is asyncio.current_task():
            del self._pulls[feed]
        self.source_ended(feed)

    def _detach(self, feed: ListenFeed) -> None:
        self._attached_at.pop(feed, None)
        tap = self._taps.pop(feed, None)
        if tap is not None and self.media is not None:
            result = self.media.remove_tap(feed.room_id, tap)
            if result is not None:
                self._spawn(result)
        task = self._pulls.pop(feed, None)
        if task is not None:
            task.cancel()

    def source_ended(self, feed: ListenFeed) -> None:
        """The feed's packets stopped coming: re-attach it if its room lives on."""
        self._taps.pop(feed, None)
        if self.feeds.get(feed.room_id) is not feed or feed.finished:
            return
        if self.closed or not feed.listeners:
            self._end(feed)
            return
        now = asyncio.get_running_loop().time()
        lasted = now - self._attached_at.get(feed, now) >= LASTED_SECONDS
        if lasted or feed not in self._retry_until:
            self._retry_until[feed] = now + REATTACH_SECONDS
        self._spawn(self._reattach(feed, delay=0.0 if lasted else REATTACH_DELAY))

    async def _reattach(self, feed: ListenFeed, *, delay: float) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(delay)
            delay = REATTACH_DELAY
            if self.closed or self.feeds.get(feed.room_id) is not feed or not feed.listeners:
                break
            try:
                room = await self.get_room(feed.room_id)
                if room is None:
                    break  # the room closed: its listeners' streams end
                await self._attach(room, feed, local_only=False)
                return
            except ProtocolError as exc:
                log.info("room %s: no source for its HTTP listeners yet: %s",
                         feed.room_id, exc.message)
            except Exception:
                log.exception("room %s: re-attaching HTTP listeners failed", feed.room_id)
            if loop.time() >= self._retry_until.get(feed, 0.0):
                break
        self._end(feed)

    # --- feeds going -----------------------------------------------------------------------

    def _empty(self, feed: ListenFeed) -> None:
        if self.feeds.get(feed.room_id) is feed:
            del self.feeds[feed.room_id]
        self._detach(feed)
        self._retry_until.pop(feed, None)

    def _end(self, feed: ListenFeed) -> None:
        if self.feeds.get(feed.room_id) is feed:
            del self.feeds[feed.room_id]
        self._detach(feed)
        self._retry_until.pop(feed, None)
        feed.end()

    def _spawn(self, awaitable: Awaitable[Any]) -> None:
        async def run() -> None:
            with contextlib.suppress(asyncio.CancelledError):
                await awaitable

        task = asyncio.ensure_future(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
