"""The machine's values in and out besides the protocol's commands: who acts (`Actor`), the
server's own commands (`Disconnect`, `Expire`), what a command did (`Outcome`), and the
package's one error root (`RoomError`).

PURE: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from protocol.errors import ErrorCode, ProtocolError
from rooms.events import Event
from rooms.model import Room


@dataclass(frozen=True, slots=True)
class Actor:
    """Who sends a command: the user, their display name, and (when known) the connection."""

    user: str
    name: str
    conn: str | None = None


SYSTEM = Actor("", "")  # the actor of internal commands that nobody sent (Expire)


@dataclass(slots=True)
class Outcome:
    """The result of a command: the room after it (None: the room is closed), the reply's
    result fields (without `id`/`type`), and the events it causes, in order."""

    room: Room | None
    reply: dict[str, Any]
    events: list[Event]


class RoomError(ProtocolError):
    """A refused command; the room is unchanged. The one error root of `rooms`."""

    def __init__(self, code: ErrorCode, message: str, *, field: str | None = None) -> None:
        super().__init__(code, message, field=field)


@dataclass(frozen=True, slots=True)
class Disconnect:
    """Internal: the actor's last connection to the room dropped."""

    room: str
    grace: float
    host_grace: float


@dataclass(frozen=True, slots=True)
class Expire:
    """Internal: apply the away deadlines due at `now`."""

    room: str
