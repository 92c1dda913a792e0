"""Where rooms live: the `RoomStore` protocol that `MemoryStore` and `RedisStore` implement.

Every store passes tests/store/test_store_contract.py. The contract:

- `load(room_id)` -> the stored `Room` (a private copy the caller may keep) or None.
- `commit(old, new, events, *, host_limit=None)` stores `new` atomically if the stored room
  is still `old` (same version); `old` None creates a room (Conflict if the id exists;
  `RoomError(forbidden)` when `host_limit` is given and the host hosts that many rooms
  already, counted in the same atomic step), `new` None deletes it. Before writing it
  refuses with `RoomError(already_seated)` when a user seated in `new` holds a seat in
  another room (the cross-room "one seat per user" rule). When
  `new.version == old.version` nothing changed: a store may skip the write, but still checks
  the version and passes the events on (to other nodes, for a shared store).
  It keeps the indexes: user -> seat, the room list (newest first), the deadlines and
  host -> rooms.
- `list_rooms(limit, cursor)` -> (summaries newest first, next cursor or None). The cursor is
  opaque; a bad one raises `RoomError(bad_request)`.
- `due_rooms(now)` -> ids of rooms whose `next_deadline()` is at or before `now`.
- `start(sink)` begins delivering events committed by other nodes to `sink(room_id, room,
  events)` (room None: closed); `close()` stops and releases everything.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol, runtime_checkable

from rooms.machine import Event
from rooms.model import Room

# The receiver of events that did not come back from `RoomService.execute`: the sweeper's,
# and (shared stores) other nodes'. It may return an awaitable; the caller awaits it.
EventSink = Callable[[str, Room | None, list[Event]], Awaitable[None] | None]


class Conflict(Exception):
    """The stored room is not the version the change was made from: reload and re-apply."""


def too_many_rooms(hosted: int) -> str:
    """The `forbidden` message of a creation past the rooms-per-host bound."""
    return (f"you host {hosted} rooms already, the most one user may host at once; "
            "close one first")


@runtime_checkable
class RoomStore(Protocol):
    async def load(self, room_id: str) -> Room | None: ...

    async def commit(self, old: Room | None, new: Room | None, events: list[Event], *,
                     host_limit: int | None = None) -> None: ...

    async def list_rooms(
        self, limit: int, cursor: str | None = None
    ) -> tuple[list[dict[str, Any]], str | None]: ...

    async def due_rooms(self, now: float) -> list[str]: ...

    async def start(self, sink: EventSink) -> None: ...

    async def close(self) -> None: ...
