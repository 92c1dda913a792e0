"""The one way from committed events to everything that follows them on this node.

Every batch of a room's events comes here: a request's outcome (after its reply), the
sweeper's and other nodes' batches (the service's sink), a dropped connection's `Disconnect`.
From the events alone, the delivery

- subscribes a local connection named by `_joined` (before the batch goes out, so the joiner
  gets its own join's effects like every member) and replaces the user's older connections;
- sends each event to its local recipients, encoded once per encoding, the same bytes written
  to each; `room_state` rendered per recipient; `audience_changed` at most once a second to
  each client (docs/protocol.md "Events");
- ends the subscriptions that `_gone` and `room_closed` end, after the whole batch (a kicked
  user still receives `kicked`);
- makes the media follow (drop a user, close a room, or take the room's new state);
- reports this node's presence in the cluster (which members are connected through it), as
  subscriptions come and go.

A request from a connection not yet subscribed to its room opens a window: batches of that
room arriving before the request's own outcome (other nodes' commits) are kept and, once the
outcome subscribed the connection, sent to it after the reply, through the same routing.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from protocol import codec
from rooms.events import Event, EventType
from rooms.model import Room
from rooms.values import Outcome
from server.connection import CLOSE_REPLACED, Connection, send_all
from server.levels import RoomLevels
from server.metrics import Metrics
from server.ports import ClusterPort, MediaPort
from server.subscriptions import Subscriptions
from server.tasks import TaskSet

log = logging.getLogger(__name__)

# docs/protocol.md: `audience_changed` at most once a second to each client.
AUDIENCE_INTERVAL = 1.0

Batch = tuple[Sequence[Event], Room | None]
# A feature following every batch of a room on this node, after its frames went out (props:
# the media owner plays a `sound_played`). It must not block.
Follower = Callable[[str, Room | None, Sequence[Event]], None]


@dataclass(eq=False)
class InFlight:
    """A room request of one connection, from before it runs until its outcome is delivered.

    `room_id` is the room it addresses (None: it creates one). `batches` is kept only while
    `collecting`: the connection does not receive the room yet, so what arrives for the room
    meanwhile waits here for it.
    """

    conn: Connection
    room_id: str | None
    collecting: bool
    batches: list[Batch] = field(default_factory=list)


@dataclass
class _Throttle:
    last: float = float("-inf")
    pending: Mapping[str, Any] | None = None
    timer: asyncio.TimerHandle | None = None


class Delivery:
    def __init__(self, metrics: Metrics, tasks: TaskSet, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.metrics = metrics
        self.tasks = tasks
        self.clock = clock
        self.media: MediaPort | None = None
        self.cluster: ClusterPort | None = None
        self.subscriptions = Subscriptions(on_forget=self._forgotten)
        self.followers: list[Follower] = []
        self._throttles: dict[tuple[str, str], _Throttle] = {}
        self._in_flight: dict[str, list[InFlight]] = {}
        # Who speaks in rooms mixed on another node, for the joiners served here.
        self.speaking = RoomLevels(self._levels_elsewhere, self._send_levels, tasks)
        # Presence changes go out one report at a time, in the order they happened.
        self._presence_lock = asyncio.Lock()

    def attach(self, *, media: MediaPort | None = None,
               cluster: ClusterPort | None = None) -> None:
        """The media engine and the cluster, built after the delivery (they call back into it)."""
        self.media = media
        self.cluster = cluster
        if cluster is not None:
            self.subscriptions.track_presence()

    @property
    def rooms(self) -> dict[str, dict[str, Connection]]:
        """Room id -> user -> the local connection that receives that user's events."""
        return self.subscriptions.rooms

    def serves(self, room_id: str) -> bool:
        """Whether the room has members connected through this node."""
        return room_id in self.subscriptions.rooms

    # --- connections ----------------------------------------------------------------------------

    def identify(self, conn: Connection, user: str) -> None:
        self.subscriptions.identify(conn, user)

    async def connection_closed(self, conn: Connection) -> list[str]:
        """Forget a closed connection; returns the rooms its user is no longer connected to
        through this node (where grace starts)."""
        lost = [room_id for room_id in conn.rooms
                if not self.subscriptions.has_other_connection(room_id, conn)]
        self.subscriptions.remove_connection(conn)
        await self._report_presence()
        return lost

    # --- batches --------------------------------------------------------------------------------

    def begin(self, conn: Connection, room_id: str | None) -> InFlight:
        """A room request of `conn` is about to run; pair with `end` (in a finally)."""
        collecting = room_id is not None and room_id not in conn.rooms
        request = InFlight(conn, room_id, collecting)
        if collecting:
            assert room_id is not None
            self._in_flight.setdefault(room_id, []).append(request)
        return request

    def end(self, request: InFlight) -> None:
        if not request.collecting or request.room_id is None:
            return
        request.collecting = False
        waiting = self._in_flight.get(request.room_id)
        if waiting is not None and request in waiting:
            waiting.remove(request)
            if not waiting:
                del self._in_flight[request.room_id]

    async def answered(self, request: InFlight, outcome: Outcome) -> None:
        """Deliver a request's outcome, its reply sent; then what came for the room meanwhile."""
        room = outcome.room
        room_id = room.id if room is not None else request.room_id
        kept = request.batches if request.collecting else []
        # From here to the replay nothing awaits: no batch can slip in between.
        self.end(request)
        if room_id is None:
            return
        joined = self._deliver_now(room_id, room, outcome.events)
        if request.conn in joined:
            if room is not None and kept:
                self._replay(request.conn, room_id, kept, room.version)
            self._send_speaking(request.conn, room_id)
        await self._report_presence()

    async def deliver_outcome(self, room_id: str, outcome: Outcome | None) -> None:
        """Deliver an outcome nobody waits a reply for (a drop's `Disconnect`, a rejoin)."""
        if outcome is not None:
            await self.deliver(room_id, outcome.room, outcome.events)

    async def deliver(self, room_id: str, room: Room | None, events: Sequence[Event]) -> None:
        """Deliver a batch of the room's events (`room`: the room after it, None: closed).
        The service's sink: the sweeper's and other nodes' batches come here."""
        self._deliver_now(room_id, room, events)
        await self._report_presence()

    def levels(self, room_id: str, levels: Mapping[str, float]) -> None:
        """The media engine's callback: who is speaking how loud (it rate-limits)."""
        recipients = self.subscriptions.members(room_id)
        self.speaking.changed(room_id, levels)
        if recipients:
            self._send_many(recipients, Event(EventType.SPEAKING, {"levels": dict(levels)})
                            .wire(room_id))
        if self.cluster is not None:
            # Only the media owner measures levels: members on other nodes hear of them here.
            self.tasks.spawn(self.cluster.share_levels(room_id, dict(levels)),
                             name="share-levels")

    def _deliver_now(self, room_id: str, room: Room | None,
                     events: Sequence[Event]) -> list[Connection]:
        """A batch's first delivery on this node; returns the local connections it joined."""
        if events:
            for request in self._in_flight.get(room_id, ()):
                request.batches.append((events, room))
        joined: list[Connection] = []
        gone: list[str] = []
        closed = False
        try:
            joined = self._subscribe_joiners(room_id, room, events)
            gone, closed = self._route(room_id, room, events)
        except Exception:
            log.exception("delivering %d events of room %s failed", len(events), room_id)
        if self.media is not None:
            for user in gone:
                self.tasks.follow(self.media.drop_user, room_id, user)
            if closed:
                self.tasks.follow(self.media.close_room, room_id)
            elif room is not None:
                self.tasks.follow(self.media.room_changed, room)
        for follower in self.followers:
            try:
                follower(room_id, room, events)
            except Exception:
                log.exception("a follower of room %s failed", room_id)
        return joined

    def _subscribe_joiners(self, room_id: str, room: Room | None,
                           events: Sequence[Event]) -> list[Connection]:
        joined: list[Connection] = []
        if room is None:
            return joined
        for event in events:
            if event.type is not EventType.JOINED:
                continue
            user, conn_id = event.data.get("user"), event.data.get("conn")
            if not isinstance(user, str) or not isinstance(conn_id, str):
                continue
            conn = self.subscriptions.local(user, conn_id)
            if conn is not None:
                self.subscriptions.subscribe(room_id, conn, room.version)
                self._replace_others(room_id, user, keep=conn.id)
                joined.append(conn)
        return joined

    def _route(self, room_id: str, room: Room | None, events: Sequence[Event],
               only: Connection | None = None) -> tuple[list[str], bool]:
        """Send a batch to its local recipients (with `only`: to that connection alone) and
        end the subscriptions it ends. Returns the users gone and whether the room closed."""
        version = room.version if room is not None else None
        gone: list[str] = []
        closed = False
        for event in events:
            kind = event.type
            if kind is EventType.JOINED or kind is EventType.GONE:
                user = event.data.get("user")
                if not isinstance(user, str) or (only is not None and only.user != user):
                    continue
                conn_id = event.data.get("conn")
                if kind is EventType.GONE:
                    gone.append(user)
                elif isinstance(conn_id, str):
                    self._replace_others(room_id, user, keep=conn_id, version=version)
                continue
            if kind.internal:
                continue
            if kind is EventType.ROOM_CLOSED:
                closed = True
            if only is None:
                self._follow_levels(room_id, event)
            recipients = self.subscriptions.recipients(room_id, event.to)
            if only is not None:
                recipients = [only] if only in recipients else []
            if not recipients:
                continue
            if kind is EventType.ROOM_STATE and room is not None:
                for conn in recipients:
                    assert conn.user is not None
                    self._send_one(conn, {"type": kind.value, "room": room_id,
                                          "state": room.state_for(conn.user)})
            elif kind is EventType.AUDIENCE_CHANGED:
                wire = event.wire(room_id)
                for conn in recipients:
                    self._audience(conn, room_id, wire)
            else:
                self._send_many(recipients, event.wire(room_id))
        for user in gone:
            self.subscriptions.unsubscribe_user(room_id, user)
        if closed:
            self.subscriptions.drop_room(room_id)
        return gone, closed

    def _replay(self, conn: Connection, room_id: str, batches: list[Batch],
                joined_version: int) -> None:
        """Send the joiner the batches that came while it joined, as it would have got them.

        A batch of an older version than the join's came before it: the reply's state holds
        its effect already. The rest of each batch was done when it arrived (other members
        served, media told); only the joiner's part is left. Of the audience counts, only
        the latest matters.
        """
        newer = [(events, room) for events, room in batches
                 if room is None or room.version >= joined_version]
        counts = [i for i, (events, _) in enumerate(newer)
                  if any(e.type is EventType.AUDIENCE_CHANGED for e in events)]
        for i, (events, room) in enumerate(newer):
            if room_id not in conn.rooms or conn.closing:
                return  # replaced, gone or closed by an earlier batch
            if counts and i != counts[-1]:
                events = [e for e in events if e.type is not EventType.AUDIENCE_CHANGED]
            self._route(room_id, room, events, only=conn)

    def _replace_others(self, room_id: str, user: str, keep: str,
                        version: int | None = None) -> None:
        for other in self.subscriptions.others(room_id, user, keep, version):
            # It stops receiving the room first, so its own closing does not count as a drop.
            self.subscriptions.forget(room_id, other)
            self._send_one(other, Event(EventType.REPLACED).wire(room_id))
            other.close(CLOSE_REPLACED, "replaced by a newer connection")

    def _send_speaking(self, conn: Connection, room_id: str) -> None:
        """`speaking` reports changes only: a joiner is told who is speaking already, by
        this node's mixer if it mixes the room, else from what the cluster says (levels.py)."""
        if room_id not in conn.rooms:
            return
        current: Mapping[str, float] = {}
        if self.media is not None:
            try:
                current = self.media.speaking_levels(room_id)
            except Exception:
                log.exception("media speaking_levels failed")
        if current:
            self._send_levels(conn, room_id, current)
        elif self.cluster is not None:
            self.speaking.joined(conn, room_id)

    def _send_levels(self, conn: Connection, room_id: str, levels: Mapping[str, float]) -> None:
        self._send_one(conn, Event(EventType.SPEAKING, {"levels": dict(levels)}).wire(room_id))

    async def _levels_elsewhere(self, room_id: str) -> Mapping[str, float]:
        return await self.cluster.current_levels(room_id) if self.cluster is not None else {}

    def _follow_levels(self, room_id: str, event: Event) -> None:
        kind = event.type
        if kind is EventType.SPEAKING:
            levels = event.data.get("levels")
            if isinstance(levels, dict):
                self.speaking.changed(room_id, levels)
        elif kind is EventType.ROOM_STATE or kind is EventType.ROOM_CLOSED:
            # Closed, or its media moved to another node (whose mixer starts afresh).
            self.speaking.forget(room_id)

    async def _report_presence(self) -> None:
        if self.cluster is None:
            return
        async with self._presence_lock:
            for room_id, user, present in self.subscriptions.take_presence():
                try:
                    if present:
                        await self.cluster.joined(room_id, user)
                    else:
                        await self.cluster.left(room_id, user)
                except Exception:
                    log.exception("presence of %s in %s not reported", user, room_id)

    # --- sending --------------------------------------------------------------------------------

    def _send_many(self, recipients: Sequence[Connection], wire: Mapping[str, Any]) -> None:
        by_encoding: dict[bool, list[Connection]] = {}
        for conn in recipients:
            by_encoding.setdefault(conn.events_binary, []).append(conn)
        for binary, conns in by_encoding.items():
            self._count(*send_all(conns, codec.encode(dict(wire), binary)))

    def _send_one(self, conn: Connection, wire: Mapping[str, Any]) -> None:
        self._count(*send_all((conn,), codec.encode(dict(wire), conn.events_binary)))

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

    def _forgotten(self, room_id: str, conn: Connection) -> None:
        if room_id not in self.subscriptions.rooms:
            self.speaking.forget(room_id)  # no member here: no more batches of it either
        throttle = self._throttles.pop((conn.id, room_id), None)
        if throttle is not None and throttle.timer is not None:
            throttle.timer.cancel()
