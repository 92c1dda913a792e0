"""Who on this node receives what: per room, the connection that receives each member's
events; per user, every local connection (joined or not).

Bookkeeping only, nothing is sent from here (server.delivery sends). The per-user index is
what a source of events addressed to users rather than to a room's members looks up.
A room's (room, user) entries are also this node's presence in the cluster: their comings
and goings are kept, when asked, for the delivery to report.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable

from server.connection import Connection

Forgotten = Callable[[str, Connection], None]


class Subscriptions:
    def __init__(self, on_forget: Forgotten | None = None) -> None:
        # room id -> user -> the connection that receives that user's events in that room
        self.rooms: dict[str, dict[str, Connection]] = {}
        # user -> every local connection of that user
        self.users: dict[str, set[Connection]] = defaultdict(set)
        self._on_forget = on_forget
        # (room id, user, present) changes not reported yet; None: presence is not tracked.
        self._presence: list[tuple[str, str, bool]] | None = None

    # --- connections ----------------------------------------------------------------------------

    def identify(self, conn: Connection, user: str) -> None:
        """`conn` now speaks for `user` (hello). It must be in no room."""
        self.remove_connection(conn)
        conn.user = user
        self.users[user].add(conn)

    def remove_connection(self, conn: Connection) -> None:
        if conn.user is None:
            return
        others = self.users.get(conn.user)
        if others is not None:
            others.discard(conn)
            if not others:
                del self.users[conn.user]
        for room_id in list(conn.rooms):
            self.forget(room_id, conn)

    def local(self, user: str, conn_id: str) -> Connection | None:
        """The local connection with that id, if `user` speaks through it."""
        for conn in self.users.get(user, ()):
            if conn.id == conn_id:
                return conn
        return None

    # --- rooms ----------------------------------------------------------------------------------

    def subscribe(self, room_id: str, conn: Connection, version: int) -> None:
        """`conn` now receives its user's events of the room. `version`: the room's version
        when it joined (a later `_joined` of an older version does not replace it)."""
        assert conn.user is not None
        conn.rooms.add(room_id)
        conn.joined_at[room_id] = version
        subscribers = self.rooms.setdefault(room_id, {})
        if conn.user not in subscribers and self._presence is not None:
            self._presence.append((room_id, conn.user, True))
        subscribers[conn.user] = conn

    def others(self, room_id: str, user: str, keep: str,
               version: int | None = None) -> list[Connection]:
        """`user`'s local connections in the room but the one with id `keep` (and, given the
        version of that join, but those that joined after it)."""
        return [
            other for other in self.users.get(user, ())
            if other.id != keep and room_id in other.rooms
            and (version is None or other.joined_at.get(room_id, 0) <= version)
        ]

    def forget(self, room_id: str, conn: Connection) -> None:
        conn.rooms.discard(room_id)
        conn.joined_at.pop(room_id, None)
        subscribers = self.rooms.get(room_id)
        if subscribers is not None and conn.user is not None and subscribers.get(conn.user) is conn:
            del subscribers[conn.user]
            if not subscribers:
                del self.rooms[room_id]
            if self._presence is not None:
                self._presence.append((room_id, conn.user, False))
        if self._on_forget is not None:
            self._on_forget(room_id, conn)

    def unsubscribe_user(self, room_id: str, user: str) -> None:
        for conn in list(self.users.get(user, ())):
            if room_id in conn.rooms:
                self.forget(room_id, conn)

    def drop_room(self, room_id: str) -> None:
        for conn in list(self.rooms.get(room_id, {}).values()):
            self.forget(room_id, conn)
        self.rooms.pop(room_id, None)

    def has_other_connection(self, room_id: str, conn: Connection) -> bool:
        """Whether another local connection of conn's user is still in the room."""
        assert conn.user is not None
        return any(
            other is not conn and room_id in other.rooms and not other.closing
            for other in self.users.get(conn.user, ())
        )

    def subscriber(self, room_id: str, user: str) -> Connection | None:
        return self.rooms.get(room_id, {}).get(user)

    def members(self, room_id: str) -> list[Connection]:
        return list(self.rooms.get(room_id, {}).values())

    def recipients(self, room_id: str, to: Iterable[str] | None) -> list[Connection]:
        """The local connections an event for `to` (None: every member) goes to."""
        subscribers = self.rooms.get(room_id)
        if not subscribers:
            return []
        if to is None:
            return list(subscribers.values())
        return [subscribers[user] for user in to if user in subscribers]

    # --- presence -------------------------------------------------------------------------------

    def track_presence(self) -> None:
        """Keep the comings and goings of (room, user) entries from now on (with a cluster)."""
        if self._presence is None:
            self._presence = []

    def take_presence(self) -> list[tuple[str, str, bool]]:
        """The (room id, user, present) changes since the last call, in order."""
        if not self._presence:
            return []
        changes, self._presence = self._presence, []
        return changes
