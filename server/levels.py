"""Who is speaking now in each room this node serves, so a joiner is told at once.

`speaking` carries changes only (docs/protocol.md "Events"): a member who joins while someone
talks steadily hears of that speaker from no event. The node that mixes the room knows the
levels (its engine's `speaking_levels`); the delivery asks it first. Any other node keeps them
here, per room it serves: from the owner's `speaking` batches, which reach it while it has
members of the room, on top of the owner's snapshot in the cluster's store
(`ClusterPort.current_levels`), read once when the room's first local member joins. Changes
that arrive while that read is on its way are newer than it: they win over the snapshot.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from server.connection import Connection
from server.tasks import TaskSet

log = logging.getLogger(__name__)

Fetch = Callable[[str], Awaitable[Mapping[str, float]]]
Send = Callable[[Connection, str, Mapping[str, float]], None]


@dataclass
class _Room:
    levels: dict[str, float] = field(default_factory=dict)
    fetching: bool = True
    touched: set[str] = field(default_factory=set)  # changed while the snapshot was read
    # Joiners waiting for the snapshot, each with the users touched before it joined (the
    # changes after that it received itself, as every member did).
    waiting: list[tuple[Connection, frozenset[str]]] = field(default_factory=list)


class RoomLevels:
    """The current levels of the rooms served here whose media may be mixed elsewhere."""

    def __init__(self, fetch: Fetch, send: Send, tasks: TaskSet) -> None:
        self._fetch = fetch
        self._send = send
        self._tasks = tasks
        self._rooms: dict[str, _Room] = {}

    def joined(self, conn: Connection, room_id: str) -> None:
        """Tell `conn`, just subscribed to the room, who is speaking (now or once known)."""
        room = self._rooms.get(room_id)
        if room is None:
            room = self._rooms[room_id] = _Room(waiting=[(conn, frozenset())])
            self._tasks.spawn(self._read_snapshot(room_id, room), name=f"levels-{room_id}")
        elif room.fetching:
            room.waiting.append((conn, frozenset(room.touched)))
        elif room.levels:
            self._send(conn, room_id, dict(room.levels))

    def changed(self, room_id: str, levels: Mapping[str, float]) -> None:
        """A `speaking` event of the room: its users' new levels (0.0: stopped)."""
        room = self._rooms.get(room_id)
        if room is None:
            return
        for user, level in levels.items():
            if room.fetching:
                room.touched.add(user)
            if isinstance(level, int | float) and level > 0.0:
                room.levels[user] = float(level)
            else:
                room.levels.pop(user, None)

    def forget(self, room_id: str) -> None:
        """The room is no longer served here, closed, or its media moved: start afresh."""
        self._rooms.pop(room_id, None)

    def current(self, room_id: str) -> dict[str, float]:
        room = self._rooms.get(room_id)
        return dict(room.levels) if room is not None else {}

    async def _read_snapshot(self, room_id: str, room: _Room) -> None:
        try:
            snapshot = await self._fetch(room_id)
        except Exception as exc:
            # Without it the joiners learn of the speakers from their next change.
            log.warning("speaking levels of room %s not read: %s", room_id, exc)
            snapshot = {}
        for user, level in snapshot.items():
            if user not in room.touched and level > 0.0:
                room.levels[user] = float(level)
        room.fetching = False
        touched, room.touched = room.touched, set()
        waiting, room.waiting = room.waiting, []
        if self._rooms.get(room_id) is not room:
            return
        for conn, before in waiting:
            heard = touched - before  # sent to it as they came
            levels = {user: level for user, level in room.levels.items() if user not in heard}
            if levels and room_id in conn.rooms and not conn.closing:
                self._send(conn, room_id, levels)
