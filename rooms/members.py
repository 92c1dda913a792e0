"""`list_members`: everyone in a room, in the order a page shows them (PURE).

docs/protocol.md "Members of a room": the host first, then admins, then seated users by seat,
then the audience in the order they joined (`Room.members` keeps join order). Each entry is
`{user, name, role, seat|null, away}`; an admin on a seat is listed with the admins.

The cursor is opaque: the position after the last member shown and that member's id. The
next page starts right after that member wherever they are now, or at the same position if
they left, so a page after a change repeats or skips as little as the change itself moved.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from protocol.errors import ErrorCode
from protocol.schema import Role
from protocol.validate import USER_ID_RE
from rooms.model import Room
from rooms.values import RoomError


def ordered(room: Room) -> list[dict[str, Any]]:
    """Every member's entry, in the listing's order."""
    seats = room.seated_users()
    rank: dict[str, tuple[int, int]] = {}
    for position, (user, member) in enumerate(room.members.items()):
        if user == room.host:
            rank[user] = (0, 0)
        elif member.role is Role.ADMIN:
            rank[user] = (1, position)
        elif user in seats:
            rank[user] = (2, seats[user])
        else:
            rank[user] = (3, position)
    return [
        {"user": user, "name": member.name, "role": member.role.value,
         "seat": seats.get(user), "away": member.away_until is not None}
        for user, member in sorted(room.members.items(), key=lambda item: rank[item[0]])
    ]


def list_members(room: Room, limit: int, cursor: str | None) -> dict[str, Any]:
    """`{members, cursor?}`: one page of at most `limit` entries after `cursor`."""
    entries = ordered(room)
    start = 0
    if cursor is not None:
        position, last = _decode(cursor)
        start = next((i + 1 for i, e in enumerate(entries) if e["user"] == last), position)
    chunk = entries[start:start + max(1, limit)]
    reply: dict[str, Any] = {"members": chunk}
    end = start + len(chunk)
    if end < len(entries) and chunk:
        reply["cursor"] = _encode(end, chunk[-1]["user"])
    return reply


def _encode(position: int, last: str) -> str:
    return base64.urlsafe_b64encode(f"{position}:{last}".encode()).decode().rstrip("=")


def _decode(cursor: str) -> tuple[int, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        position_text, _, last = raw.partition(":")
        position = int(position_text)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        position, last = -1, ""
    if position < 0 or USER_ID_RE.fullmatch(last) is None:
        raise RoomError(ErrorCode.BAD_REQUEST, "field 'cursor' must be a cursor this server "
                        "gave", field="cursor")
    return position, last
