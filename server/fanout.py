"""Delivery of room events to this node's connections.

The gateway subscribes a connection to a room when it creates or joins it; from then on the
room's events reach it, each event encoded once per encoding and the same bytes written to every
recipient. Events whose type starts with "_" are signals between server parts and never go out.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from rooms.machine import Event
from rooms.model import Room
from server.connection import CLOSE_REPLACED, Connection, send_all
from server.metrics import Metrics

log = logging.getLogger(__name__)

# PROTOCOL.md: `audience_changed` at most once a second to each client.
AUDIENCE_INTERVAL = 1.0

Encoder = Callable[[dict[str, Any], bool], bytes | str]


class MediaHooks(Protocol):
    """What the fan-out tells the media side; the gateway wires it to MediaEngine."""

    def drop_user(self, room_id: str, user: str) -> None: ...

    def close_room(self, room_id: str) -> None: ...


@dataclass
class _Throttle:
    last: float = float("-inf")
    pending: Mapping[str, Any] | None = None
    timer: asyncio.TimerHandle | None = None


@dataclass
class Fanout:
    encode: Encoder
    metrics: Metrics
    media: MediaHooks | None = None
    clock: Callable[[], float] = time.monotonic
    # room id -> user -> the connection that receives that user's events in that room
    rooms: dict[str, dict[str, Connection]] = field(default_factory=dict)
    # user -> every local connection of that user (joined or not)
    users: dict[str, set[Connection]] = field(default_factory=lambda: defaultdict(set))
    _throttles: dict[tuple[str, str], _Throttle] = field(default_factory=dict)

    # --- connections and subscriptions ----------------------------------------------------------

    def add_connection(self, conn: Connection) -> None:
        if conn.user is not None:
            self.users[conn.user].add(conn)

    def remove_connection(self, conn: Connection) -> None:
        if conn.user is None:
            return
        others = self.users.get(conn.user)
        if others is not None:
            others.discard(conn)
            if not others:
                del self.users[conn.user]
        for room_id in list(conn.rooms):
            self._forget(room_id, conn)

    def subscribe(self, room_id: str, conn: Connection, version: int = 0) -> None:
        """`conn` now receives its user's events of the room; older local ones are replaced.

        `version` is the room's version when it joined: a `_joined` of an older version (a
        late message from another node) does not replace it.
        """
        assert conn.user is not None
        conn.rooms.add(room_id)
        conn.joined_at[room_id] = version
        self.rooms.setdefault(room_id, {})[conn.user] = conn
        self.replace_others(room_id, conn.user, keep=conn.id)

    def replace_others(self, room_id: str, user: str, keep: str,
                       version: int | None = None) -> None:
        """Close every local connection of `user` in the room except the one with id `keep`
        (and, given the version of the join, those that joined after it)."""
        for other in list(self.users.get(user, ())):
            if other.id == keep or room_id not in other.rooms:
                continue
            if version is not None and other.joined_at.get(room_id, 0) > version:
                continue
            # It stops receiving the room first, so its own closing does not count as a drop.
            self._forget(room_id, other)
            self._send_one(other, {"type": "replaced", "room": room_id})
            other.close(CLOSE_REPLACED, "replaced by a newer connection")

    def unsubscribe_user(self, room_id: str, user: str) -> None:
        for conn in list(self.users.get(user, ())):
            if room_id in conn.rooms:
                self._forget(room_id, conn)

    def drop_room(self, room_id: str) -> None:
        for conn in list(self.rooms.get(room_id, {}).values()):
            self._forget(room_id, conn)
        self.rooms.pop(room_id, None)

    def has_other_connection(self, room_id: str, conn: Connection) -> bool:
        """Whether another local connection of conn's user is still in the room."""
        assert conn.user is not None
        return any(
            other is not conn and room_id in other.rooms and not other.closing
            for other in self.users.get(conn.user, ())
        )

    def members(self, room_id: str) -> list[Connection]:
        return list(self.rooms.get(room_id, {}).values())

    def _forget(self, room_id: str, conn: Connection) -> None:
        conn.rooms.discard(room_id)
        conn.joined_at.pop(room_id, None)
        subscribers = self.rooms.get(room_id)
        if subscribers is not None and conn.user is not None and subscribers.get(conn.user) is conn:
            del subscribers[conn.user]
            if not subscribers:
                del self.rooms[room_id]
        throttle = self._throttles.pop((conn.id, room_id), None)
        if throttle is not None and throttle.timer is not None:
            throttle.timer.cancel()

    # --- delivery -------------------------------------------------------------------------------

    def deliver(self, room_id: str, events: Sequence[Event], room: Room | None) -> bool:
        """Send a batch of a room's events to the local subscribers, in order.

        `room` is the room after the batch (None when it is gone); `room_state` is rendered from
        it for each recipient. Subscriptions that the batch ends are dropped after the whole
        batch went out, so a kicked user still receives `kicked`. Returns whether the batch
        closed the room.
        """
        gone: list[str] = []
        closed = False
        for event in events:
            if event.type == "_joined":
                user, conn_id = event.data.get("user"), event.data.get("conn")
                if isinstance(user, str) and isinstance(conn_id, str):
                    self.replace_others(room_id, user, keep=conn_id,
                                        version=room.version if room is not None else None)
                continue
            if event.type == "_gone":
                user = event.data.get("user")
                if isinstance(user, str):
                    gone.append(user)
                continue
            if event.type.startswith("_"):
                continue
            recipients = self._recipients(room_id, event.to)
            if event.type == "room_closed":
                closed = True
            if not recipients:
                continue
            if event.type == "room_state" and room is not None:
                for conn in recipients:
                    assert conn.user is not None
                    self._send_one(conn, {"type": "room_state", "room": room_id,
                                          "state": room.state_for(conn.user)})
            elif event.type == "audience_changed":
                wire = event.wire(room_id)
                for conn in recipients:
                    self._audience(conn, room_id, wire)
            else:
                self._send_many(recipients, event.wire(room_id))
        for user in gone:
            self.unsubscribe_user(room_id, user)
            if self.media is not None:
                self.media.drop_user(room_id, user)
        if closed:
            self.drop_room(room_id)
            if self.media is not None:
                self.media.close_room(room_id)
        return closed

    def levels(self, room_id: str, levels: Mapping[str, float]) -> None:
        """The media engine's speaking levels (already rate-limited there) to the room."""
        recipients = self.members(room_id)
        if recipients:
            self._send_many(recipients, {"type": "speaking", "room": room_id,
                                         "levels": dict(levels)})

    def _recipients(self, room_id: str, to: Iterable[str] | None) -> list[Connection]:
        subscribers = self.rooms.get(room_id)
        if not subscribers:
            return []
        if to is None:
            return list(subscribers.values())
        return [subscribers[user] for user in to if user in subscribers]

    def _send_many(self, recipients: Sequence[Connection], wire: Mapping[str, Any]) -> None:
        by_encoding: dict[bool, list[Connection]] = {}
        for conn in recipients:
            by_encoding.setdefault(conn.events_binary, []).append(conn)
        for binary, conns in by_encoding.items():
            self._count(*send_all(conns, self.encode(dict(wire), binary)))

    def _send_one(self, conn: Connection, wire: Mapping[str, Any]) -> None:
        self._count(*send_all((conn,), self.encode(dict(wire), conn.events_binary)))

    def _count(self, delivered: int, slow: int) -> None:
        self.metrics.events_delivered += delivered
        self.metrics.slow_clients_closed += slow

    def _audience(self, conn: Connection, room_id: str, wire: Mapping[str, Any]) -> None:
        """Send now if the client's second has passed; else keep only the latest count."""
        key = (conn.id, room_id)
        throttle = self._throttles.setdefault(key, _Throttle())
        now = self.clock()
        if throttle.timer is None and now - throttle.last >= AUDIENCE_INTERVAL:
            throttle.last = now
            self._send_one(conn, wire)
            return
        throttle.pending = wire
        if throttle.timer is None:
            delay = max(0.0, throttle.last + AUDIENCE_INTERVAL - now)
            loop = asyncio.get_running_loop()
            throttle.timer = loop.call_later(delay, self._flush_audience, conn, room_id)

    def _flush_audience(self, conn: Connection, room_id: str) -> None:
        throttle = self._throttles.get((conn.id, room_id))
        if throttle is None:
            return
        throttle.timer = None
        wire, throttle.pending = throttle.pending, None
        if wire is None or room_id not in conn.rooms:
            return
        throttle.last = self.clock()
        self._send_one(conn, wire)
