"""`RoomService`: load -> apply -> commit, one command at a time per room on this node.

The per-room `asyncio.Lock` keeps this node's commands to a room in line, so they rarely
conflict; the store's version check makes it right across nodes, where a `Conflict` means
reload and apply again. Events from `execute` go back to the caller, who sends the reply
first; events nobody asked for (the sweeper's, other nodes') go to the sink.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import secrets
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from protocol.errors import ErrorCode, ProtocolError
from protocol.schema import LIST_LIMIT_MAX, CreateRoom
from rooms.events import Event
from rooms.machine import apply, check_offer, create_room
from rooms.model import Room
from rooms.values import SYSTEM, Actor, Disconnect, Expire, Outcome, RoomError
from services import roomlog
from services.sweeping import sweep_forever
from store.base import Conflict, EventSink, RoomStore

log = logging.getLogger(__name__)

# Seconds a dropped member's place is held, and a dropped host's room (server.settings passes
# the configured values; these are the one set of defaults).
DEFAULT_GRACE = 15.0
DEFAULT_HOST_GRACE = 60.0
# A room that changes under us this many times in a row is too busy: the client may retry.
MAX_ATTEMPTS = 50
# Rooms one user may host at once (server.settings' --max-rooms-per-host; `forbidden` past
# it): a streamer with a few rooms open keeps working, a script opening rooms by the thousand
# does not (docs/security.md).
DEFAULT_MAX_ROOMS_PER_HOST = 5
# `webrtc_offer`s of one user being answered on this node at once (`rate_limited` past it):
# each costs ICE gathering and a peer connection before it can be refused for anything else.
DEFAULT_OFFERS_IN_FLIGHT = 4
# A change the room machine does not hold (rooms.props): (room, actor, now) -> Outcome.
Step = Callable[[Room, Actor, float], Outcome]


ROOM_ID_ALPHABET = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
ROOM_ID_LENGTH = 10


def new_room_id() -> str:
    # Letters and digits only (no look-alikes): an id that starts with "-" would read as an
    # option on a command line, and people read ids aloud. 56**10 ~ 3e17 ids.
    return "".join(secrets.choice(ROOM_ID_ALPHABET) for _ in range(ROOM_ID_LENGTH))


class _RoomLock:
    __slots__ = ("lock", "users")

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.users = 0


class RoomService:
    """The room commands' way to the store. `grace` / `host_grace`: seconds a dropped member's
    place, and a dropped host's room, are held."""

    def __init__(
        self,
        store: RoomStore,
        *,
        grace: float = DEFAULT_GRACE,
        host_grace: float = DEFAULT_HOST_GRACE,
        clock: Callable[[], float] = time.time,
        new_room_id: Callable[[], str] = new_room_id,
        max_rooms_per_host: int | None = None,
        offers_in_flight: int = DEFAULT_OFFERS_IN_FLIGHT,
        store_timeout: float | None = None,
    ) -> None:
        self.store = store
        # Seconds a command may take in all, waiting for its room included (None: no bound):
        # a store that stops answering fails commands in that time (docs/security.md).
        self.store_timeout = store_timeout
        # None: no bound (the server passes its setting, DEFAULT_MAX_ROOMS_PER_HOST by default).
        self.max_rooms_per_host = max_rooms_per_host
        self.offers_in_flight = offers_in_flight
        self._offers: dict[str, int] = {}
        self.grace = float(grace)
        self.host_grace = float(host_grace)
        self.clock = clock
        self._new_room_id = new_room_id
        self._locks: dict[str, _RoomLock] = {}
        self._sink: EventSink | None = None

    # -- life ------------------------------------------------------------------------------

    def set_sink(self, sink: EventSink) -> None:
        """Where the sweeper's events and other nodes' events go: `sink(room_id, room, events)`
        with room None when the room closed. It may be a coroutine function."""
        self._sink = sink

    async def start(self) -> None:
        """Start the store's delivery of other nodes' events to the sink."""
        await self.store.start(self._deliver)

    async def close(self) -> None:
        await self.store.close()

    async def _deliver(self, room_id: str, room: Room | None, events: list[Event]) -> None:
        if self._sink is None or not events:
            return
        result = self._sink(room_id, room, events)
        if inspect.isawaitable(result):
            await result

    # -- commands --------------------------------------------------------------------------

    async def execute(self, actor: Actor, cmd: object) -> Outcome:
        """Run one room command or `create_room`; raises `RoomError` (nothing changed) or
        returns the outcome."""
        if isinstance(cmd, CreateRoom):
            return await self._create(actor, cmd)
        room_id = getattr(cmd, "room", None)
        if not isinstance(room_id, str):
            raise RoomError(ErrorCode.BAD_REQUEST, f"{type(cmd).__name__} is not a room command")
        return await self._run(room_id, actor, cmd)

    async def _create(self, actor: Actor, cmd: CreateRoom) -> Outcome:
        for _ in range(MAX_ATTEMPTS):
            outcome = create_room(self._new_room_id(), actor, cmd, self.clock())
            try:
                if self.max_rooms_per_host is None:
                    await self.store.commit(None, outcome.room, outcome.events)
                else:
                    # Counted and created in one step of the store: two nodes cannot both
                    # give a user their last room.
                    await self.store.commit(None, outcome.room, outcome.events,
                                            host_limit=self.max_rooms_per_host)
            except Conflict:
                continue  # the id is taken: draw another
            if outcome.room is not None:
                roomlog.created(outcome.room, actor)
            return outcome
        raise ProtocolError(ErrorCode.INTERNAL, "could not find a free room id")

    async def update(self, actor: Actor, room_id: str, step: Step) -> Outcome:
        """Run a step the room machine does not hold (props: rooms.props) the way `execute`
        runs a command: under the room's lock, `step(room, actor, now)` on a fresh load,
        committed with the version check, refused only on the stored state."""
        return await self._run(room_id, actor, None, step=step)

    async def _run(self, room_id: str, actor: Actor, cmd: object,
                   now: float | None = None, *, step: Step | None = None) -> Outcome:
        if self.store_timeout is None:
            return await self._attempts(room_id, actor, cmd, now, step)
        try:
            async with asyncio.timeout(self.store_timeout):
                return await self._attempts(room_id, actor, cmd, now, step)
        except TimeoutError:
            # A commit cut short may still land when the store wakes: a re-read tells.
            raise ProtocolError(ErrorCode.INTERNAL,
                                "the store did not answer in time; re-read the room") from None

    async def _attempts(self, room_id: str, actor: Actor, cmd: object, now: float | None,
                        step: Step | None) -> Outcome:
        # A store with `load_cached` (RedisStore) may hand out its own copy of the room without
        # asking the store whether it is current: the commit's version check catches a stale
        # copy (Conflict -> reload). A refusal must come from the stored state, though: a
        # command refused on a cached copy runs again on a checked load.
        load_cached = getattr(self.store, "load_cached", None)

        def run(room: Room, actor: Actor, cmd: object, now: float) -> Outcome:
            return apply(room, actor, cmd, now) if step is None else step(room, actor, now)

        async with self._room_lock(room_id):
            for _ in range(MAX_ATTEMPTS):
                checked = True
                if load_cached is not None:
                    room, checked = await load_cached(room_id)
                else:
                    room = await self.store.load(room_id)
                if room is None:
                    raise RoomError(ErrorCode.NO_SUCH_ROOM, f"no room {room_id!r}")
                try:
                    outcome = run(room, actor, cmd, self.clock() if now is None else now)
                except RoomError:
                    if checked:
                        raise
                    room = await self.store.load(room_id)
                    if room is None:
                        raise RoomError(ErrorCode.NO_SUCH_ROOM, f"no room {room_id!r}") from None
                    outcome = run(room, actor, cmd, self.clock() if now is None else now)
                try:
                    await self.store.commit(room, outcome.room, outcome.events)
                except Conflict:
                    continue  # changed by another node since we loaded it
                roomlog.committed(room_id, actor, outcome.events)
                return outcome
        raise ProtocolError(ErrorCode.INTERNAL, "the room is too busy, try again")

    @asynccontextmanager
    async def _room_lock(self, room_id: str) -> AsyncIterator[None]:
        entry = self._locks.get(room_id)
        if entry is None:
            entry = self._locks[room_id] = _RoomLock()
        entry.users += 1
        try:
            async with entry.lock:
                yield
        finally:
            entry.users -= 1
            if entry.users == 0:
                del self._locks[room_id]

    async def list_rooms(self, limit: int = 50, cursor: str | None = None) -> dict[str, Any]:
        limit = max(1, min(limit, LIST_LIMIT_MAX))
        rooms, next_cursor = await self.store.list_rooms(limit, cursor)
        reply: dict[str, Any] = {"rooms": rooms}
        if next_cursor is not None:
            reply["cursor"] = next_cursor
        return reply

    async def get_room(self, room_id: str) -> Room | None:
        return await self.store.load(room_id)

    @asynccontextmanager
    async def offering(self, user: str) -> AsyncIterator[None]:
        """Hold one of the user's offer slots on this node while an offer is answered;
        `rate_limited` when all are taken."""
        held = self._offers.get(user, 0)
        if held >= self.offers_in_flight:
            raise RoomError(ErrorCode.RATE_LIMITED,
                            f"{held} offers of yours are being answered already; "
                            "wait for their answers")
        self._offers[user] = held + 1
        try:
            yield
        finally:
            left = self._offers[user] - 1
            if left:
                self._offers[user] = left
            else:
                del self._offers[user]

    async def check_offer(self, actor: Actor, room_id: str) -> Room:
        """The room, if the actor may connect media to it; else `RoomError`. A `webrtc_offer`'s
        one load and one membership check: the media engine takes the room from here."""
        room = await self.store.load(room_id)
        check_offer(room, actor)
        assert room is not None
        return room

    async def connection_lost(self, actor: Actor, room_id: str) -> Outcome | None:
        """The actor's last connection to the room dropped: hold their place for the grace.

        Returns the outcome (the caller fans its events out, as after `execute`), or None
        when there is nothing to do (room gone, not a member).
        """
        try:
            return await self._run(room_id, actor,
                                   Disconnect(room_id, self.grace, self.host_grace))
        except RoomError:
            return None

    # -- deadlines -------------------------------------------------------------------------

    async def sweep(self, now: float | None = None) -> list[tuple[str, Outcome]]:
        """Apply the due away deadlines; their events go to the sink."""
        now = self.clock() if now is None else now
        done: list[tuple[str, Outcome]] = []
        for room_id in await self.store.due_rooms(now):
            try:
                outcome = await self._run(room_id, SYSTEM, Expire(room_id), now)
            except RoomError:
                continue  # closed meanwhile
            done.append((room_id, outcome))
            try:
                await self._deliver(room_id, outcome.room, outcome.events)
            except Exception:  # one failing delivery must not hold up the other rooms
                log.exception("delivering the sweep of room %s failed", room_id)
        return done

    async def run_sweeper(self, interval: float = 1.0) -> None:
        """Sweep forever (run it as a task; cancel it to stop)."""
        await sweep_forever(self.sweep, interval, log, "sweep failed")
