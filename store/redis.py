"""RedisStore: the RoomStore for several nodes sharing one Redis.

What it keeps in Redis is listed in store/keys.py, the format of the event channel's messages
in store/wire.py, the scripts in store/lua.py.

`commit` is one Lua script: version check, seat index check and update, blob, room list,
deadline index and PUBLISH happen in one atomic step, so every node sees the changes of a room
in version order and no seat can be given twice. Pub/sub is at-most-once: the subscriber keeps
the last version seen per room and, on a gap or after a reconnect, re-reads the room and hands
the sink a `room_state` event so clients re-read.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from protocol.errors import ErrorCode
from rooms.delta import apply_delta
from rooms.machine import Event, RoomError
from rooms.model import Room
from store import lua
from store.base import Conflict, EventSink, too_many_rooms
from store.commit_args import commit_request
from store.keys import DEFAULT_PREFIX, Keys
from store.lua import Script
from store.pubsub import Feed, Listening, MessageHandler, RedisPyFeed, subscribe_forever
from store.resp import Pipeline
from store.room_list import room_page
from store.wire import (
    as_text,
    bans_after,
    events_from_wire,
    message_header,
    parse_message,
    room_from_blob,
    unpack,
)

log = logging.getLogger(__name__)

# redis-py can swallow a cancellation that lands mid-command: the listener also polls a flag,
# and close() waits this long at most for it.
POLL_INTERVAL = 1.0
# Connections to Redis per node (commands, the two subscriptions, pipelines).
MAX_CONNECTIONS = 32
# Seconds any command may take (waiting for a free connection, connecting, the reply): a Redis
# that stops answering fails requests with `internal` in that time, not when it wakes up.
DEFAULT_TIMEOUT = 5.0
# Seconds a room this node loaded or committed counts as served without local members.
TOUCHED_SERVES = 10.0
# Seconds the room handed back by a lost race stands in for a load (the retry comes at once).
REREAD_FRESH = 0.1
STOP_TIMEOUT = 5.0


class RedisStore:
    """RoomStore over Redis; one instance per node (`node_id` tags the events it publishes)."""

    def __init__(
        self,
        url: str,
        node_id: str,
        *,
        prefix: str = DEFAULT_PREFIX,
        client: aioredis.Redis | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.url = url
        self.node_id = node_id
        self.keys = Keys(prefix)
        self.timeout = timeout
        if client is None:
            # A bounded pool: a burst of requests waits for a connection instead of opening
            # hundreds (each new one also costs redis-py ~20 ms of CPU to set up). Every wait
            # on it is bounded by the timeout, so is every command through it.
            pool = aioredis.BlockingConnectionPool.from_url(
                url, max_connections=MAX_CONNECTIONS, timeout=timeout, socket_timeout=timeout,
                socket_connect_timeout=timeout)
            client = aioredis.Redis.from_pool(pool)  # closes the pool with the client
        self.redis: aioredis.Redis = client
        # redis-py's script objects, for a client the pipeline does not cover.
        self._scripts: dict[Script, Any] = {}
        self._pipe = Pipeline.for_client(self.redis, timeout)
        self._sink: EventSink | None = None
        self._listening = Listening("redis-store-listener")
        # Last message sequence number seen per room (own commits included): gap detection.
        self._seen: dict[str, int] = {}
        # The stored room handed back by a commit that lost a race, for the reload that
        # follows at once (read in the same atomic step as the version check: as fresh as a
        # load then). Kept REREAD_FRESH seconds at most, with the time it was read.
        self._reread: dict[str, tuple[float, bytes, list[Any]]] = {}
        # The newest version known of each room this node loaded or committed, kept current by
        # the channel: a load then reads only the version unless the room changed. Handed out
        # as copies; dropped when the room closes.
        self._known: dict[str, Room] = {}
        # Whether this node serves a room at all (local members or media); None: every room.
        # Batches of rooms it does not serve are neither decoded nor handed to the sink.
        self.interested: Callable[[str], bool] | None = None
        # When this node last loaded or committed each room: a room it just worked on counts
        # as served for a while (its new member's subscription may not be in place yet).
        self._touched: dict[str, float] = {}

    # -- RoomStore ---------------------------------------------------------------------------

    async def load(self, room_id: str) -> Room | None:
        reread = self._reread.pop(room_id, None)
        if reread is not None and time.monotonic() - reread[0] < REREAD_FRESH:
            room = room_from_blob(reread[1], reread[2])
        else:
            known = self._known.get(room_id)
            reply = await self.script(
                lua.LOAD, [self.keys.room(room_id), self.keys.bans(room_id)],
                ["" if known is None else known.version])
            if not reply:
                self._known.pop(room_id, None)
                return None
            if len(reply) == 1 and known is not None:
                self._touched[room_id] = time.monotonic()
                return known.copy()
            room = room_from_blob(reply[1], reply[2] if len(reply) > 2 else ())
        if room is None:
            return None
        self._remember(room)
        return room.copy()

    async def ping(self) -> None:
        """Raises unless Redis answers within the timeout (the health check)."""
        if self._pipe is not None:
            await self._pipe.execute("PING")
        else:
            await self.redis.ping()

    async def load_cached(self, room_id: str) -> tuple[Room | None, bool]:
        """The room for a command, and whether it was checked against Redis.

        A room this node keeps current through the channel comes without a round trip and
        unchecked (False): it is not a copy, the caller must not change it (`rooms.machine`
        works on its own copy), and the commit's version check rejects it if it was behind.
        Otherwise as `load` (True).
        """
        if room_id not in self._reread:
            known = self._known.get(room_id)
            if known is not None:
                self._touched[room_id] = time.monotonic()
                return known, False
        return await self.load(room_id), True

    async def script(self, script: Script, keys: list[str], args: list[Any]) -> Any:
        """Run one of `store.lua`'s scripts (the cluster's leases too) on the fast connection
        when there is one; calls issued in one turn of the event loop go out in one write."""
        if self._pipe is not None:
            return await self._pipe.script(script, keys, args)
        registered = self._scripts.get(script)
        if registered is None:
            registered = self._scripts[script] = self.redis.register_script(script.source)
        return await registered(keys=keys, args=args)

    def _remember(self, room: Room, *, touch: bool = True) -> None:
        if touch:
            self._touched[room.id] = time.monotonic()
        known = self._known.get(room.id)
        if known is None or known.version <= room.version:
            self._known[room.id] = room

    async def commit(self, old: Room | None, new: Room | None, events: list[Event], *,
                     host_limit: int | None = None) -> None:
        """Store `new` (None: the room is gone) if the stored version is still `old`'s.

        Raises Conflict when another commit came first, RoomError(already_seated) when a user
        seated by `new` holds a seat in another room, RoomError(forbidden) when a creation
        finds its host hosting `host_limit` rooms. Publishes `events` in the same step.
        """
        room_id, script_keys, args = commit_request(self.keys, self.node_id, old, new, events,
                                                    host_limit)
        result = await self.script(lua.COMMIT, script_keys, args)
        status = as_text(result[0])
        if status == "ok":
            if new is None:
                self._known.pop(room_id, None)
            else:
                self._remember(new.copy())
            return
        if status == "conflict":
            if len(result) > 2 and result[2]:
                self._reread[room_id] = (time.monotonic(), bytes(result[2]),
                                         list(result[3]) if len(result) > 3 else [])
            raise Conflict(f"room {room_id} is at version {as_text(result[1]) or 'none'}")
        if status == "too_many":
            raise RoomError(ErrorCode.FORBIDDEN, too_many_rooms(int(result[1])))
        user, holder = as_text(result[1]), as_text(result[2])
        raise RoomError(
            ErrorCode.ALREADY_SEATED, f"user {user!r} already holds a seat in room {holder}"
        )

    async def list_rooms(
        self, limit: int, cursor: str | None = None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """Summaries of the newest rooms first, and a cursor for the next page (None: no more)."""
        return await room_page(self.redis, self.keys, self.script, limit, cursor)

    async def due_rooms(self, now: float) -> list[str]:
        ids = await self.redis.zrangebyscore(self.keys.deadlines, "-inf", repr(now))
        return [as_text(room_id) for room_id in ids]

    async def start(self, sink: EventSink) -> None:
        """Subscribe to the event channel; other nodes' batches go to `sink` in order."""
        self._sink = sink
        await self._listening.start(self._listen)

    async def close(self) -> None:
        await self._listening.stop(STOP_TIMEOUT)
        self._sink = None
        if self._pipe is not None:
            self._pipe.close()
        await self.redis.aclose()

    # -- extras for the cluster ---------------------------------------------------------------

    async def notify(self, room_id: str, events: list[Event]) -> None:
        """Send events that change no state (a media takeover's `room_state`) to every node.

        They go to this node's sink directly and to the others over the channel, outside the
        room's message sequence.
        """
        raw = await self.redis.hget(self.keys.room(room_id), "b")
        if not isinstance(raw, bytes):
            return  # the room is gone
        await self._publish_notice(room_id, events, raw)
        await self._deliver(room_id, Room.from_dict(unpack(raw)), list(events))

    async def broadcast(self, room_id: str, events: list[Event]) -> None:
        """Send events that carry no room state (speaking levels) to the other nodes' members.

        No room blob goes with them and this node's own members are not served from here:
        the caller delivers locally.
        """
        await self._publish_notice(room_id, events, b"")

    async def _publish_notice(self, room_id: str, events: list[Event], blob: bytes) -> None:
        # Sequence 0: outside the room's message sequence, so no gap is inferred from it.
        header = message_header(room_id, 0, self.node_id, events)
        await self.redis.publish(self.keys.events, b"0:" + header + blob)

    async def subscribe(
        self,
        channel: str,
        handle: MessageHandler,
        *,
        running: Callable[[], bool],
        subscribed: asyncio.Event,
        poll: float,
        resubscribed: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        """`store.pubsub.subscribe_forever` on this store's Redis (the cluster's inbox)."""
        await subscribe_forever(self._feed, channel, handle, running=running,
                                subscribed=subscribed, poll=poll, resubscribed=resubscribed)

    def _feed(self, channel: str) -> Feed:
        if self._pipe is not None:
            # redis-py's PubSub costs ~100 us of Python per message (a timeout, the retry
            # wrapper, push-message parsing): a plain subscribed connection instead.
            return self._pipe.feed(channel)
        return RedisPyFeed(self.redis, channel)

    # -- subscriber ---------------------------------------------------------------------------

    async def _listen(self) -> None:
        listening = self._listening
        await self.subscribe(
            self.keys.events, self._handle, running=lambda: listening.running,
            subscribed=listening.subscribed, poll=POLL_INTERVAL, resubscribed=self._resync_all)

    async def _handle(self, data: bytes) -> None:
        try:
            await self._on_message(data)
        except (RedisConnectionError, RedisTimeoutError):
            raise
        except Exception:
            # One bad batch (or a failing sink) must not end the subscription.
            log.exception("dropping a malformed or failing event batch")

    async def _on_message(self, data: bytes) -> None:
        seq, header, blob = parse_message(data)
        room_id = str(header["r"])
        own = header["n"] == self.node_id
        if seq == 0:
            # A notice outside the sequence; the origin delivered it itself.
            if not own and self._serves(room_id):
                await self._deliver(room_id, room_from_blob(blob), events_from_wire(header["e"]))
            return
        last = self._seen.get(room_id)
        if last is not None and seq <= last:
            return  # a batch we already passed (delivered, or covered by a re-read)
        serves = self._serves(room_id)
        unchanged = bool(header.get("u"))  # no state changed: no room came with it
        delta = header.get("d")  # the change came instead of the room
        if not blob and not unchanged and delta is None:  # closed: nothing more will come
            self._seen.pop(room_id, None)
            self._known.pop(room_id, None)
            self._touched.pop(room_id, None)
        else:
            self._seen[room_id] = seq
        if not serves:
            self._known.pop(room_id, None)  # no longer kept current: the next load reads
            return
        if last is not None and seq > last + 1:
            await self._resync(room_id)  # batches were lost: members re-read the room
            return
        if own:
            return  # delivered by this node's gateway already
        if unchanged:
            known = self._known.get(room_id)
            room = known if known is not None and known.version == header["v"] else None
        elif delta is not None:
            version = int(header["v"])
            known = self._known.get(room_id)
            if known is not None and known.version >= version:
                room = known  # read after this commit already
            else:
                room = self._follow(room_id, version, header.get("b"),
                                    lambda base: apply_delta(base, delta))
            if room is None:
                # No copy to apply the change to: read the room (at this version or later);
                # gone already, its closing message follows.
                room = await self.load(room_id)
                if room is None:
                    return
        else:
            room = room_from_blob(blob)
            if room is not None:
                fresh = room
                self._follow(room_id, room.version, header.get("b"), lambda _: fresh)
        await self._deliver(room_id, room, events_from_wire(header["e"]))

    def _follow(self, room_id: str, version: int, bans: Any,
                make: Callable[[Room], Room]) -> Room | None:
        """Keep the node's copy current with another node's commit of `version`: `make(copy)`
        is the room after it (from the commit's delta, or its blob), with the copy's bans
        changed as the commit says (neither carries them); it becomes the copy. None when the
        copy is not at the version before: there is none, it is newer (read after the
        commit), or older (a change went by unseen: dropped, the next load reads it all)."""
        known = self._known.get(room_id)
        if known is None or known.version >= version:
            return None
        if known.version != version - 1:
            del self._known[room_id]
            return None
        room = make(known)
        room.banned = bans_after(known.banned, bans)
        self._remember(room, touch=False)
        return room

    async def _resync(self, room_id: str) -> None:
        """Messages were lost: hand the sink the current room so clients re-read it."""
        seq, blob = await self.redis.hmget(self.keys.room(room_id), ["e", "b"])
        if blob is None:
            self._seen.pop(room_id, None)
            await self._deliver(room_id, None, [Event("room_closed", {"reason": "closed"})])
            return
        self._seen[room_id] = int(seq or 0)
        await self._deliver(room_id, room_from_blob(blob), [Event("room_state")])

    async def _resync_all(self) -> None:
        for room_id, last in list(self._seen.items()):
            if not self._serves(room_id):
                del self._seen[room_id]  # picked up afresh with its next message
                continue
            seq = await self.redis.hget(self.keys.room(room_id), "e")
            if seq is None or int(seq) != last:
                await self._resync(room_id)

    def _serves(self, room_id: str) -> bool:
        if self.interested is None or self.interested(room_id):
            return True
        touched = self._touched.get(room_id)
        if touched is not None and time.monotonic() - touched < TOUCHED_SERVES:
            return True
        self._touched.pop(room_id, None)
        return False

    async def _deliver(self, room_id: str, room: Room | None, events: list[Event]) -> None:
        if self._sink is None or not self._serves(room_id):
            return
        result = self._sink(room_id, room, events)
        if inspect.isawaitable(result):
            await result
