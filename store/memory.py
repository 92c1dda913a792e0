"""`MemoryStore`: the one-node store, rooms in a dict.

Atomicity comes from asyncio itself: no method awaits between its check and its write, so
no other coroutine runs in between. Events need no transport: on one node every event
already comes back from `RoomService.execute` or its sweeper.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from typing import Any

from protocol.errors import ErrorCode
from rooms.machine import Event, RoomError
from rooms.model import Room
from store.base import Conflict, EventSink, too_many_rooms


class MemoryStore:
    def __init__(self) -> None:
        self._rooms: dict[str, Room] = {}
        # user -> (room id, seat index): the cross-room "one seat per user" index.
        self._seat_of: dict[str, tuple[str, int]] = {}
        # The room list, by creation sequence number (newest = highest).
        self._next_seq = 1
        self._seqs: list[int] = []
        self._seq_of: dict[str, int] = {}
        self._room_at: dict[int, str] = {}
        self._deadlines: dict[str, float] = {}
        # host -> the rooms they host (the rooms-per-host bound).
        self._hosted: dict[str, set[str]] = {}
        self._sink: EventSink | None = None

    async def start(self, sink: EventSink) -> None:
        self._sink = sink

    async def close(self) -> None:
        self._sink = None

    async def ping(self) -> None:
        """Always answers: the rooms are in this process."""

    async def load(self, room_id: str) -> Room | None:
        room = self._rooms.get(room_id)
        return room.copy() if room is not None else None

    async def commit(self, old: Room | None, new: Room | None, events: list[Event], *,
                     host_limit: int | None = None) -> None:
        # No await in here: check and write happen in one step of the event loop.
        either = new if new is not None else old
        if either is None:
            raise ValueError("commit needs an old or a new room")
        room_id = either.id
        stored = self._rooms.get(room_id)
        if old is None:
            if stored is not None:
                raise Conflict(f"room {room_id} exists")
            hosted = self._hosted.get(either.host, ())
            if host_limit is not None and len(hosted) >= host_limit:
                raise RoomError(ErrorCode.FORBIDDEN, too_many_rooms(len(hosted)))
        elif stored is None or stored.version != old.version:
            raise Conflict(f"room {room_id} changed")
        if new is not None:
            for user in new.seated_users():
                held = self._seat_of.get(user)
                if held is not None and held[0] != room_id:
                    raise RoomError(
                        ErrorCode.ALREADY_SEATED,
                        f"user {user!r} already holds seat {held[1]} in room {held[0]}",
                    )
        if stored is not None:
            for user in stored.seated_users():
                self._seat_of.pop(user, None)
        if new is None:
            self._drop(room_id)
            return
        self._rooms[room_id] = new.copy()
        self._hosted.setdefault(new.host, set()).add(room_id)
        for user, index in new.seated_users().items():
            self._seat_of[user] = (room_id, index)
        if room_id not in self._seq_of:
            seq = self._next_seq
            self._next_seq += 1
            self._seq_of[room_id] = seq
            self._room_at[seq] = room_id
            insort(self._seqs, seq)
        deadline = new.next_deadline()
        if deadline is None:
            self._deadlines.pop(room_id, None)
        else:
            self._deadlines[room_id] = deadline

    def _drop(self, room_id: str) -> None:
        room = self._rooms.pop(room_id, None)
        if room is not None:
            hosted = self._hosted.get(room.host)
            if hosted is not None:
                hosted.discard(room_id)
                if not hosted:
                    del self._hosted[room.host]
        self._deadlines.pop(room_id, None)
        seq = self._seq_of.pop(room_id, None)
        if seq is not None:
            del self._room_at[seq]
            del self._seqs[bisect_left(self._seqs, seq)]

    async def list_rooms(
        self, limit: int, cursor: str | None = None
    ) -> tuple[list[dict[str, Any]], str | None]:
        if cursor is None:
            end = len(self._seqs)
        else:
            try:
                before = int(cursor)
            except ValueError:
                raise RoomError(ErrorCode.BAD_REQUEST, "cursor: not a cursor from list_rooms",
                                field="cursor") from None
            end = bisect_left(self._seqs, before)
        start = max(0, end - max(0, limit))
        page = [self._rooms[self._room_at[seq]].summary()
                for seq in reversed(self._seqs[start:end])]
        next_cursor = str(self._seqs[start]) if start > 0 and page else None
        return page, next_cursor

    async def due_rooms(self, now: float) -> list[str]:
        return [room_id for room_id, at in self._deadlines.items() if at <= now]
