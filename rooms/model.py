"""The room as data: seats, members, the mic-link queue, and its wire views.

PURE: no I/O. `rooms.machine` is the only code that changes a room, always on a `copy()`.
`Member` (a NamedTuple) and `MicRequest` are immutable (replaced, never mutated), so `copy()`
can share them and stay cheap in a room of thousands; `Seat` is mutable and copied.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, NamedTuple

from protocol.schema import (
    DEFAULT_AUTO_CHATROOM_AT,
    MAX_SEATS,
    Mode,
    Role,
    SeatMode,
)
from rooms.propstate import EMPTY as NO_PROPS
from rooms.propstate import RoomProps
from rooms.recstate import Recording

MODERATOR_ROLES = frozenset({Role.HOST, Role.ADMIN})


@dataclass(slots=True)
class Seat:
    index: int
    user: str | None = None
    name: str | None = None
    muted: bool = False
    self_muted: bool = False
    locked: bool = False
    away: bool = False

    def free(self) -> None:
        """Empty the seat: `muted` and `locked` belong to the seat and stay."""
        self.user = None
        self.name = None
        self.self_muted = False
        self.away = False

    def to_wire(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "user": self.user,
            "name": self.name,
            "muted": self.muted,
            "self_muted": self.self_muted,
            "locked": self.locked,
            "away": self.away,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Seat:
        return cls(
            index=int(data["index"]),
            user=data.get("user"),
            name=data.get("name"),
            muted=bool(data.get("muted", False)),
            self_muted=bool(data.get("self_muted", False)),
            locked=bool(data.get("locked", False)),
            away=bool(data.get("away", False)),
        )

    def copy(self) -> Seat:
        # The constructor directly: `dataclasses.replace` costs ~8x as much, and a room copy
        # makes one per seat.
        return Seat(self.index, self.user, self.name, self.muted, self.self_muted, self.locked,
                    self.away)


class Member(NamedTuple):
    """One member. Immutable (change with `_replace`); a tuple, because a room of thousands
    builds thousands of these on every load."""

    user: str
    name: str
    role: Role
    # Set while the member's last connection is gone: the time their place is given up.
    away_until: float | None = None


@dataclass(frozen=True, slots=True)
class MicRequest:
    user: str
    name: str
    at: float
    note: str = ""

    def to_wire(self) -> dict[str, Any]:
        return {"user": self.user, "name": self.name, "at": self.at, "note": self.note}


@dataclass(slots=True)
class Room:
    """One room. `members` includes the host; `admins` mirrors the members with role admin.

    `seats` holds exactly the seats of the current mode: 1 in live, `seat_count` in chatroom.
    `invites` maps an invited user to the seat named in the invite (None: any free seat).
    `version` grows by one with every committed change (`rooms.machine.apply` bumps it).
    """

    id: str
    title: str
    host: str
    host_name: str
    host_self_muted: bool = False
    mode: Mode = Mode.LIVE
    seat_count: int = MAX_SEATS
    seat_mode: SeatMode = SeatMode.APPLY
    auto_chatroom_at: int = DEFAULT_AUTO_CHATROOM_AT
    seats: list[Seat] = field(default_factory=lambda: [Seat(0)])
    members: dict[str, Member] = field(default_factory=dict)
    admins: set[str] = field(default_factory=set)
    banned: set[str] = field(default_factory=set)
    queue: list[MicRequest] = field(default_factory=list)
    invites: dict[str, int | None] = field(default_factory=dict)
    version: int = 0
    created_at: float = 0.0
    # Voice effects and music (rooms.propstate): replaced, never changed, so copies share it.
    props: RoomProps = NO_PROPS
    # The recording running now (rooms.recording), or None; frozen, shared by copies.
    recording: Recording | None = None

    # -- reading ---------------------------------------------------------------------------

    @property
    def host_away_until(self) -> float | None:
        host = self.members.get(self.host)
        return host.away_until if host is not None else None

    @property
    def host_away(self) -> bool:
        return self.host_away_until is not None

    def copy(self) -> Room:
        # Positional, in field order (not `dataclasses.replace`): every command copies the room.
        return Room(
            self.id, self.title, self.host, self.host_name, self.host_self_muted, self.mode,
            self.seat_count, self.seat_mode, self.auto_chatroom_at,
            [seat.copy() for seat in self.seats], dict(self.members), set(self.admins),
            set(self.banned), list(self.queue), dict(self.invites), self.version,
            self.created_at, self.props, self.recording,
        )

    def role_of(self, user: str) -> Role | None:
        member = self.members.get(user)
        return member.role if member is not None else None

    def is_member(self, user: str) -> bool:
        return user in self.members

    def is_moderator(self, user: str) -> bool:
        return self.role_of(user) in MODERATOR_ROLES

    def moderators(self) -> frozenset[str]:
        return frozenset({self.host, *self.admins})

    def seated_users(self) -> dict[str, int]:
        return {seat.user: seat.index for seat in self.seats if seat.user is not None}

    def seat_of(self, user: str) -> Seat | None:
        for seat in self.seats:
            if seat.user == user:
                return seat
        return None

    def seat_at(self, index: int) -> Seat | None:
        if 0 <= index < len(self.seats):
            return self.seats[index]
        return None

    def first_free_seat(self) -> Seat | None:
        for seat in self.seats:
            if seat.user is None and not seat.locked:
                return seat
        return None

    def queue_position(self, user: str) -> int | None:
        """1-based position of the user's mic-link request, or None."""
        for i, request in enumerate(self.queue):
            if request.user == user:
                return i + 1
        return None

    @property
    def audience_count(self) -> int:
        return len(self.members) - (1 if self.host in self.members else 0)

    def seated_count(self) -> int:
        return sum(1 for seat in self.seats if seat.user is not None)

    def speakers(self) -> set[str]:
        """Who is heard: the host unless self-muted, seated users neither muted nor self-muted.

        Away users stay speakers: the media layer simply gets no packets from them.
        """
        heard = set() if self.host_self_muted else {self.host}
        for seat in self.seats:
            if seat.user is not None and not seat.muted and not seat.self_muted:
                heard.add(seat.user)
        return heard

    def next_deadline(self) -> float | None:
        deadlines = [m.away_until for m in self.members.values() if m.away_until is not None]
        return min(deadlines) if deadlines else None

    # -- wire views ------------------------------------------------------------------------

    def host_wire(self) -> dict[str, Any]:
        return {
            "user": self.host,
            "name": self.host_name,
            "self_muted": self.host_self_muted,
            "away": self.host_away,
        }

    def seats_wire(self) -> list[dict[str, Any]]:
        return [seat.to_wire() for seat in self.seats]

    def queue_wire(self) -> list[dict[str, Any]]:
        return [request.to_wire() for request in self.queue]

    def state_for(self, user: str | None) -> dict[str, Any]:
        """docs/protocol.md "Room state"; the queue only for the host and admins."""
        state: dict[str, Any] = {
            "id": self.id,
            "title": self.title,
            "host": self.host_wire(),
            "mode": self.mode.value,
            "seats": self.seats_wire(),
            "audience_count": self.audience_count,
            "queue_length": len(self.queue),
            "admins": sorted(self.admins),
            "seat_mode": self.seat_mode.value,
            "auto_chatroom_at": self.auto_chatroom_at,
        }
        if not self.props.default:  # a version 1 room's state stays as it was
            state.update(self.props.state_wire())
        if self.recording is not None:
            state["recording"] = self.recording.wire()
        if user is not None and self.is_moderator(user):
            state["queue"] = self.queue_wire()
        return state

    def summary(self) -> dict[str, Any]:
        """One `list_rooms` entry."""
        return {
            "id": self.id,
            "title": self.title,
            "host": {"user": self.host, "name": self.host_name},
            "mode": self.mode.value,
            "audience_count": self.audience_count,
            "seated": self.seated_count(),
        }

    # -- storage ---------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """Plain data (str, int, float, bool, None, list, dict): msgpack and JSON can carry it."""
        data = self.head_dict()
        # Rows, not maps: every other node decodes this blob on every change of the room.
        data["members"] = self.member_rows()
        data["banned"] = sorted(self.banned)
        return data

    def head_dict(self) -> dict[str, Any]:
        """`to_dict` but for the members and the bans: the part of a room that stays small
        however many join it (rooms.delta compares it field by field)."""
        data: dict[str, Any] = {
            "id": self.id,
            "title": self.title,
            "host": self.host,
            "host_name": self.host_name,
            "host_self_muted": self.host_self_muted,
            "mode": self.mode.value,
            "seat_count": self.seat_count,
            "seat_mode": self.seat_mode.value,
            "auto_chatroom_at": self.auto_chatroom_at,
            "seats": [[seat.index, seat.user, seat.name, seat.muted, seat.self_muted,
                       seat.locked, seat.away] for seat in self.seats],
            "admins": sorted(self.admins),
            "queue": [[r.user, r.name, r.at, r.note] for r in self.queue],
            "invites": [[user, seat] for user, seat in self.invites.items()],
            "version": self.version,
            "created_at": self.created_at,
        }
        if not self.props.default:  # most rooms have none: their blob stays as it was
            data["props"] = self.props.to_dict()
        if self.recording is not None:
            data["recording"] = self.recording.to_row()
        return data

    def member_rows(self) -> list[list[Any]]:
        # Inline rather than member_row() per member: a room of thousands.
        return [[user, name, role.value, away_until]
                for user, name, role, away_until in self.members.values()]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Room:
        return cls.from_head(data, _members(data["members"]))

    @classmethod
    def from_head(cls, data: Mapping[str, Any], members: dict[str, Member]) -> Room:
        """A room of a `head_dict` (or `to_dict`) and its members."""
        return cls(
            id=str(data["id"]),
            title=str(data["title"]),
            host=str(data["host"]),
            host_name=str(data["host_name"]),
            host_self_muted=bool(data["host_self_muted"]),
            mode=Mode(data["mode"]),
            seat_count=int(data["seat_count"]),
            seat_mode=SeatMode(data["seat_mode"]),
            auto_chatroom_at=int(data["auto_chatroom_at"]),
            seats=[_seat(row) for row in data["seats"]],
            members=members,
            admins={str(user) for user in data["admins"]},
            # Absent from the blob a RedisStore keeps: its bans live in a set of their own.
            banned={str(user) for user in data.get("banned", ())},
            queue=[
                MicRequest(str(user), str(name), float(at), str(note))
                for user, name, at, note in data["queue"]
            ],
            invites={
                str(user): (None if seat is None else int(seat)) for user, seat in data["invites"]
            },
            version=int(data["version"]),
            created_at=float(data["created_at"]),
            props=RoomProps.from_dict(data.get("props")),
            recording=Recording.from_row(data.get("recording")),
        )


# `Room.copy` and `Seat.copy` pass the fields by position: a reordered or added field must
# fail here at import, not copy the wrong values.
_ROOM_FIELDS = ("id", "title", "host", "host_name", "host_self_muted", "mode", "seat_count",
                "seat_mode", "auto_chatroom_at", "seats", "members", "admins", "banned", "queue",
                "invites", "version", "created_at", "props", "recording")
if tuple(f.name for f in fields(Room)) != _ROOM_FIELDS or tuple(
        f.name for f in fields(Seat)) != ("index", "user", "name", "muted", "self_muted",
                                          "locked", "away"):
    raise TypeError("rooms.model: update Room.copy / Seat.copy to the new fields")


_ROLES = {role.value: role for role in Role}


def _seat(row: Any) -> Seat:
    # A row of `to_dict`; a map (the wire form) is what rooms stored before rows came in.
    if isinstance(row, Mapping):
        return Seat.from_dict(row)
    index, user, name, muted, self_muted, locked, away = row
    return Seat(int(index), user, name, bool(muted), bool(self_muted), bool(locked), bool(away))


def member_row(member: Member) -> list[Any]:
    return [member.user, member.name, member.role.value, member.away_until]


def member_of_row(row: Sequence[Any]) -> Member:
    user, name, role, away_until = row
    return Member(user, name, _ROLES[role], away_until if away_until is None
                  else float(away_until))


def _members(rows: Iterable[Any]) -> dict[str, Member]:
    # The hot part of loading a big room: no more conversions than the data needs.
    return {
        user: Member(user, name, _ROLES[role], away_until if away_until is None
                     else float(away_until))
        for user, name, role, away_until in rows
    }
