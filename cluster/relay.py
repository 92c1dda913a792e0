"""The edge relay: one copy of a room's encoded mix, each tick, from the room's media owner to
every other node that has WebRTC listeners of the room (edge listeners, media/edge.py), over
UDP between the nodes.

Discovery and keys go through Redis. Each node binds one UDP socket and registers its
address in its node info (`relay`). A node with edge listeners of a room tells the room's
owner, through the owner's inbox channel, every `REFRESH` seconds (`{k: "edge", room, from,
addr}`; `{k: "edge-", ...}` when it has none left); the owner drops an edge it has not heard
from for `EDGE_TTL`. `{k: "edge-moved", room, user}`: the user listens through an edge now,
the owner closes the connection it may still hold for them. The owner taps the room's
session (MediaEngine.add_tap) while any edge wants the room, and keeps a random per-room key
at `vr:{room}:relay` (msgpack {node, id, key}, renewed while it relays) that the edges read.

A datagram: `VR1 | key id (4) | tick (4) | room id length (1) | room id | Opus payload |
HMAC-SHA256 tag (16)`, the tag over everything before it with the room's key. An edge drops a
datagram whose tag does not verify, whose key is not the owner's current one, or whose tick
is not newer than the last it took: a stranger can neither inject nor replay audio.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import os
import socket
import struct
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from redis.exceptions import RedisError

from rooms.model import Room
from store.redis import RedisStore
from store.wire import pack, unpack

log = logging.getLogger(__name__)

MAGIC = b"VR1"
TAG_BYTES = 16
_HEAD = struct.Struct("!3sII B")  # magic, key id, tick, room id length
REFRESH = 2.0  # seconds between an edge's subscriptions (and the owner's sweeps)
EDGE_TTL = 3 * REFRESH  # an edge not heard from for this long gets no more packets
KEY_TTL_MS = int(10 * REFRESH * 1000)
KEY_READS = 20  # an edge's reads of a new key, KEY_READ_DELAY apart, after subscribing
KEY_READ_DELAY = 0.05
MAX_ROOM_ID = 255

# (room id, the feed's key id, owner's tick, payload): a verified packet, for the edge's
# listeners. The key id is new with each feed (another owner, or its session restarted), and
# with it the tick numbers start again.
PacketSink = Callable[[str, int, int, bytes], None]


class TapEngine(Protocol):
    """media.engine.MediaEngine, as the owner's side uses it."""

    def add_tap(self, room: Room, tap: Any) -> None: ...

    def remove_tap(self, room_id: str, tap: Any) -> Any: ...

    def drop_user(self, room_id: str, user: str) -> Any: ...


def seal(key: bytes, key_id: int, tick: int, room_id: str, payload: bytes) -> bytes:
    """One relay datagram."""
    room = room_id.encode()
    body = _HEAD.pack(MAGIC, key_id, tick & 0xFFFFFFFF, len(room)) + room + payload
    return body + hmac.digest(key, body, hashlib.sha256)[:TAG_BYTES]


def parse(data: bytes) -> tuple[int, int, str, memoryview, memoryview, memoryview] | None:
    """(key id, tick, room id, payload, signed part, tag) of a datagram; None if malformed.
    Nothing is verified here."""
    if len(data) < _HEAD.size + TAG_BYTES:
        return None
    magic, key_id, tick, room_len = _HEAD.unpack_from(data)
    start = _HEAD.size + room_len
    end = len(data) - TAG_BYTES
    if magic != MAGIC or end < start:
        return None
    try:
        room_id = data[_HEAD.size:start].decode()
    except UnicodeDecodeError:
        return None
    view = memoryview(data)
    return key_id, tick, room_id, view[start:end], view[:end], view[end:]


@dataclass(eq=False)
class _Feed:
    """The owner's side of one room: a tap on its session, the edges it sends to."""

    relay: MixRelay
    room_id: str
    key: bytes
    key_id: int
    edges: dict[str, tuple[tuple[str, int], float]] = field(default_factory=dict)
    tapped: bool = False

    def mixed(self, tick: int, payload: bytes) -> None:
        transport = self.relay.transport
        if transport is None or not self.edges:
            return
        packet = seal(self.key, self.key_id, tick, self.room_id, payload)
        for address, _ in self.edges.values():
            transport.sendto(packet, address)
        self.relay.sent += len(self.edges)

    def received(self, user: str, tick: int, seq: int, payload: bytes) -> None:
        return None

    def ended(self) -> None:
        # The room's media stopped here (closed, or this node lost it): edges ask again.
        self.relay._feed_ended(self)


@dataclass(eq=False)
class _Subscription:
    """The edge's side of one room: whose packets it takes, with which key."""

    room_id: str
    owner: str
    key: bytes | None = None
    key_id: int | None = None
    last_tick: int | None = None
    rejected: int = 0


class MixRelay(asyncio.DatagramProtocol):
    """This node's relay socket: the owner's side (feeds) and the edge's (subscriptions)."""

    def __init__(
        self,
        store: RedisStore,
        *,
        host: str,
        advertised: str,
        owner_of: Callable[[str], Awaitable[str | None]],
        owns: Callable[[str], bool],
        wanted: Callable[[], Iterable[str]],
        on_packet: PacketSink,
        engine: TapEngine | None,
        port: int = 0,
        refresh: float = REFRESH,
    ) -> None:
        self.store = store
        self.node_id = store.node_id
        self.keys = store.keys
        self.host, self.port, self.advertised = host, port, advertised
        self.owner_of, self.owns, self.wanted = owner_of, owns, wanted
        self.on_packet = on_packet
        self.engine = engine
        self.refresh = refresh
        self.transport: asyncio.DatagramTransport | None = None
        self.address: tuple[str, int] | None = None  # as the other nodes reach it
        self.feeds: dict[str, _Feed] = {}
        self.subscriptions: dict[str, _Subscription] = {}
        self.rejected = 0  # datagrams dropped: malformed, unknown room or key, bad tag, old
        self.sent = 0  # datagrams sent to edges (the owner's side)
        self._loop_task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    # --- life cycle --------------------------------------------------------------------------

    async def start(self) -> tuple[str, int]:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: self, local_addr=(self.host, self.port))
        self.transport = transport
        port = int(transport.get_extra_info("sockname")[1])
        self.address = (self.advertised, port)
        self._loop_task = asyncio.create_task(self._refresh_loop(), name="edge-relay")
        return self.address

    async def close(self) -> None:
        if self._loop_task is not None:
            self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task
        for task in list(self._tasks):
            task.cancel()
        for feed in list(self.feeds.values()):
            self._stop_feed(feed)
        with contextlib.suppress(RedisError, OSError):
            for room_id in list(self.subscriptions):
                await self._unsubscribe(room_id)
        if self.transport is not None:
            self.transport.close()
            self.transport = None

    # --- the owner's side --------------------------------------------------------------------

    def on_message(self, message: dict[str, Any]) -> None:
        """An edge's (un)subscription from this node's inbox."""
        if message.get("k") == "edge-moved":
            self._moved(message)
            return
        try:
            kind, room_id, node = message["k"], str(message["room"]), str(message["from"])
            address = (str(message["addr"][0]), int(message["addr"][1])) if kind == "edge" \
                else None
        except (KeyError, TypeError, ValueError, IndexError):
            log.warning("malformed edge subscription dropped")
            return
        if address is None:
            feed = self.feeds.get(room_id)
            if feed is not None:
                feed.edges.pop(node, None)
            return
        task = asyncio.ensure_future(self._serve_edge(room_id, node, address))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _moved(self, message: dict[str, Any]) -> None:
        """A member now listens through an edge: their connection here (if any) goes."""
        try:
            room_id, user = str(message["room"]), str(message["user"])
        except (KeyError, TypeError):
            log.warning("malformed edge message dropped")
            return
        if self.engine is not None and self.owns(room_id):
            self.engine.drop_user(room_id, user)

    async def _serve_edge(self, room_id: str, node: str, address: tuple[str, int]) -> None:
        if self.engine is None or not self.owns(room_id):
            return  # the edge looks the owner up again on its next refresh
        try:
            # A host name (a wildcard --host's) is resolved here, not on every tick's send.
            infos = await asyncio.get_running_loop().getaddrinfo(
                address[0], address[1], type=socket.SOCK_DGRAM)
            address = (str(infos[0][4][0]), int(infos[0][4][1]))
        except (OSError, IndexError) as exc:
            log.warning("edge %s at %s: %s", node, address, exc)
            return
        feed = self.feeds.get(room_id)
        if feed is None:
            feed = _Feed(self, room_id, os.urandom(32), int.from_bytes(os.urandom(4), "big"))
            self.feeds[room_id] = feed  # before any await: one feed per room
            try:
                await self._write_key(feed)
                room = await self.store.load(room_id)
            except (RedisError, OSError) as exc:
                log.warning("room %s: relay key not written: %s", room_id, exc)
                self.feeds.pop(room_id, None)
                return
            if room is None or self.feeds.get(room_id) is not feed or not self.owns(room_id):
                if self.feeds.get(room_id) is feed:
                    del self.feeds[room_id]
                return
            self.engine.add_tap(room, feed)
            feed.tapped = True
            log.info("room %s: relaying the mix to edge nodes", room_id)
        feed.edges[node] = (address, time.monotonic() + EDGE_TTL)

    async def _write_key(self, feed: _Feed) -> None:
        value = pack({"node": self.node_id, "id": feed.key_id, "key": feed.key})
        await self.store.redis.set(self.keys.relay(feed.room_id), value, px=KEY_TTL_MS)

    def _feed_ended(self, feed: _Feed) -> None:
        feed.tapped = False
        if self.feeds.get(feed.room_id) is feed:
            del self.feeds[feed.room_id]

    def _stop_feed(self, feed: _Feed) -> None:
        self._feed_ended(feed)
        if self.engine is not None:
            self.engine.remove_tap(feed.room_id, feed)

    async def _sweep_feeds(self) -> None:
        now = time.monotonic()
        for feed in list(self.feeds.values()):
            for node, (_, expires) in list(feed.edges.items()):
                if expires < now:
                    del feed.edges[node]
            if not feed.edges or not self.owns(feed.room_id):
                self._stop_feed(feed)
            elif feed.tapped:
                await self._write_key(feed)  # renewed while it relays

    # --- the edge's side ---------------------------------------------------------------------

    async def _refresh_loop(self) -> None:
        while True:
            try:
                await self._sweep_feeds()
                await self._subscribe_all()
            except (RedisError, OSError) as exc:
                log.warning("edge relay refresh failed: %s", exc)
            except Exception:
                log.exception("edge relay refresh failed")
            await asyncio.sleep(self.refresh)

    async def moved_here(self, room_id: str, owner: str, user: str) -> None:
        """``user`` now listens to the room through this node: its owner drops the
        connection it may still hold for them (a speaker who stepped down, a listener
        whose edge was the owner before)."""
        message = {"k": "edge-moved", "room": room_id, "user": user, "from": self.node_id}
        await self.store.redis.publish(self.keys.inbox(owner), pack(message))

    async def subscribe_now(self, room_id: str) -> None:
        """Ask the room's owner for its mix now (an edge listener was just answered), rather
        than at the next refresh."""
        await self._subscribe(room_id)

    async def _subscribe_all(self) -> None:
        wanted = set(self.wanted())
        for room_id in list(self.subscriptions):
            if room_id not in wanted:
                await self._unsubscribe(room_id)
        for room_id in wanted:
            await self._subscribe(room_id)

    async def _subscribe(self, room_id: str) -> None:
        owner = await self.owner_of(room_id)
        current = self.subscriptions.get(room_id)
        if owner is None or owner == self.node_id:
            if current is not None:
                await self._unsubscribe(room_id)
            return
        if current is None or current.owner != owner:
            current = self.subscriptions[room_id] = _Subscription(room_id, owner)
        assert self.address is not None
        message = {"k": "edge", "room": room_id, "from": self.node_id,
                   "addr": list(self.address)}
        await self.store.redis.publish(self.keys.inbox(owner), pack(message))
        if current.key is None or current.rejected:
            await self._read_key(current, attempts=KEY_READS if current.key is None else 1)

    async def _read_key(self, sub: _Subscription, *, attempts: int) -> None:
        for attempt in range(attempts):
            raw = await self.store.redis.get(self.keys.relay(sub.room_id))
            value = unpack(raw) if raw is not None else None
            if isinstance(value, dict) and value.get("node") == sub.owner:
                key_id, key = int(value["id"]), bytes(value["key"])
                if key_id != sub.key_id:
                    sub.key_id, sub.key, sub.last_tick = key_id, key, None
                sub.rejected = 0
                return
            if attempt + 1 < attempts:
                await asyncio.sleep(KEY_READ_DELAY)

    async def _unsubscribe(self, room_id: str) -> None:
        sub = self.subscriptions.pop(room_id, None)
        if sub is not None:
            message = {"k": "edge-", "room": room_id, "from": self.node_id}
            await self.store.redis.publish(self.keys.inbox(sub.owner), pack(message))

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        parsed = parse(data)
        if parsed is None:
            self.rejected += 1
            return
        key_id, tick, room_id, payload, signed, tag = parsed
        sub = self.subscriptions.get(room_id)
        if sub is None or sub.key is None:
            self.rejected += 1
            return
        if key_id != sub.key_id:
            # Perhaps the owner's new key (a restarted feed): read it on the next refresh.
            sub.rejected += 1
            self.rejected += 1
            return
        if not hmac.compare_digest(hmac.digest(sub.key, signed, hashlib.sha256)[:TAG_BYTES],
                                   tag):
            self.rejected += 1
            return
        last = sub.last_tick
        if last is not None and not 0 < (tick - last) & 0xFFFFFFFF < 1 << 31:
            self.rejected += 1  # replayed or late
            return
        sub.last_tick = tick
        self.on_packet(room_id, key_id, tick, bytes(payload))

    def error_received(self, exc: Exception) -> None:
        log.debug("edge relay socket: %s", exc)
