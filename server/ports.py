"""What the server needs of the parts below it, as protocols: the room service, the media
engine and the cluster. `server/app.py` plugs in the real ones (services.rooms.RoomService,
media.engine.MediaEngine, cluster.cluster.Cluster); the server names no class of theirs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Mapping
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

from rooms.model import Room
from rooms.values import Actor, Outcome


class RoomsPort(Protocol):
    """services.rooms.RoomService, as the gateway uses it."""

    async def execute(self, actor: Actor, command: object) -> Outcome: ...

    async def list_rooms(self, limit: int, cursor: str | None) -> dict[str, Any]: ...

    async def connection_lost(self, actor: Actor, room_id: str) -> Outcome | None: ...

    async def check_offer(self, actor: Actor, room_id: str) -> Room: ...

    def offering(self, user: str) -> AbstractAsyncContextManager[None]: ...


class MediaPort(Protocol):
    """media.engine.MediaEngine. The room-following calls return the engine's own background
    work (a future it finishes even at stop) or nothing."""

    async def offer(self, room: Room, user: str, sdp: str) -> str: ...

    def room_changed(self, room: Room) -> Awaitable[None] | None: ...

    def drop_user(self, room_id: str, user: str) -> Awaitable[None] | None: ...

    def close_room(self, room_id: str) -> Awaitable[None] | None: ...

    def speaking_levels(self, room_id: str) -> Mapping[str, float]: ...

    async def close(self) -> None: ...


class ClusterPort(Protocol):
    """cluster.cluster.Cluster: several nodes on one Redis."""

    async def offer(self, room_id: str, user: str, sdp: str) -> str: ...

    async def joined(self, room_id: str, user: str) -> None: ...

    async def left(self, room_id: str, user: str) -> None: ...

    async def share_levels(self, room_id: str, levels: dict[str, float]) -> None: ...

    async def current_levels(self, room_id: str) -> Mapping[str, float]: ...


class PeoplePort(Protocol):
    """services.people.PeopleService, as the session uses it (the people handlers take the
    service itself)."""

    async def signed_in(self, user: str, name: str, *, verified: bool,
                        city: str | None) -> object: ...
