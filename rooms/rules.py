"""The rules the machine's handlers share: the transaction a handler works in (`Tx`) and the
moves several commands make (claim a seat, sit, vacate, remove a member, switch modes).

PURE: no I/O. Only `rooms.machine` calls these, always on the copy `apply` made.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any

from protocol.errors import ErrorCode
from protocol.schema import Mode, Role
from rooms.events import Event, EventType
from rooms.model import Member, Room, Seat
from rooms.values import Actor, RoomError


class Tx:
    """A command in progress: the room copy it changes and the events it collects."""

    __slots__ = ("actor", "changed", "closed", "events", "now", "room")

    def __init__(self, room: Room, actor: Actor, now: float) -> None:
        self.room = room
        self.actor = actor
        self.now = now
        self.events: list[Event] = []
        # Most commands change the room; the few that do not say so (see `unchanged`), so a
        # forgotten flag can only cost a needless write, never a lost one.
        self.changed = True
        self.closed = False

    def unchanged(self) -> None:
        self.changed = False

    def emit(self, type_: EventType, data: dict[str, Any] | None = None,
             to: frozenset[str] | None = None) -> None:
        self.events.append(Event(type_, data or {}, to))

    def to_moderators(self, type_: EventType, data: dict[str, Any]) -> None:
        self.emit(type_, data, self.room.moderators())

    def to_user(self, user: str, type_: EventType, data: dict[str, Any]) -> None:
        self.emit(type_, data, frozenset({user}))

    def seat_changed(self, seat: Seat) -> None:
        self.emit(EventType.SEAT_CHANGED, {"seat": seat.to_wire()})

    def audience_changed(self) -> None:
        """`audience_changed {count, queue}`: how many listen and how many wait for the mic
        (what a listener, who is not sent the queue itself, can know of it). Each client
        gets the latest at most once a second (server/delivery.py)."""
        self.emit(EventType.AUDIENCE_CHANGED,
                  {"count": self.room.audience_count, "queue": len(self.room.queue)})

    def queue_told(self, before: int) -> None:
        """After a command: if it changed the queue's length and no `audience_changed` says
        the new length yet, one does (listeners learn how many wait, not who)."""
        length = len(self.room.queue)
        if length == before:
            return
        told = [e for e in self.events if e.type is EventType.AUDIENCE_CHANGED]
        if not told or told[-1].data.get("queue") != length:
            self.audience_changed()

    def close(self, reason: str) -> None:
        self.emit(EventType.ROOM_CLOSED, {"reason": reason})
        self.closed = True


# -- shared rules --------------------------------------------------------------------------


def no_such_seat(index: int, room: Room) -> RoomError:
    return RoomError(
        ErrorCode.NO_SUCH_SEAT,
        f"seat {index} does not exist (seats 0 to {len(room.seats) - 1} in {room.mode} mode)",
    )


def seat_or_error(room: Room, index: int) -> Seat:
    seat = room.seat_at(index)
    if seat is None:
        raise no_such_seat(index, room)
    return seat


def claim(room: Room, index: int | None, claimant: str) -> Seat:
    """The seat a claim gets, or the claim's seat error (in precedence order).

    A named seat: `no_such_seat`, `seat_locked`, `seat_taken` (even when all are full),
    `already_seated` when the claimant sits on it. No seat named: the first free unlocked
    seat, else `seats_full`.
    """
    if index is None:
        seat = room.first_free_seat()
        if seat is None:
            raise RoomError(ErrorCode.SEATS_FULL, "every open seat is taken")
        return seat
    seat = seat_or_error(room, index)
    if seat.locked:
        raise RoomError(ErrorCode.SEAT_LOCKED, f"seat {index} is locked")
    if seat.user == claimant:
        raise RoomError(ErrorCode.ALREADY_SEATED, f"you are already on seat {index}")
    if seat.user is not None:
        raise RoomError(ErrorCode.SEAT_TAKEN, f"seat {index} is taken")
    return seat


def not_seated_here(room: Room, user: str, who: str = "you") -> None:
    seat = room.seat_of(user)
    if seat is not None:
        raise RoomError(
            ErrorCode.ALREADY_SEATED,
            f"{who} {'are' if who == 'you' else 'is'} already on seat {seat.index}",
        )


def drop_request(tx: Tx, user: str) -> bool:
    """Remove the user's mic-link request, telling the host and admins. Whenever a queue
    entry goes (cancelled, accepted, rejected, seated, gone), they get
    `mic_request_cancelled`, so their copy of the queue stays right."""
    queue = tx.room.queue
    for i, request in enumerate(queue):
        if request.user == user:
            del queue[i]
            tx.to_moderators(EventType.MIC_REQUEST_CANCELLED, {"user": user})
            return True
    return False


def sit(tx: Tx, seat: Seat, user: str) -> None:
    """Put a member on a free seat; their request and invite are spent."""
    member = tx.room.members[user]
    seat.user = user
    seat.name = member.name
    seat.self_muted = False
    seat.away = member.away_until is not None
    tx.room.invites.pop(user, None)
    tx.seat_changed(seat)
    drop_request(tx, user)


def vacate(tx: Tx, seat: Seat) -> None:
    seat.free()
    tx.seat_changed(seat)


def set_role(room: Room, user: str, role: Role) -> None:
    member = room.members[user]
    room.members[user] = member._replace(role=role)
    if role is Role.ADMIN:
        room.admins.add(user)
    else:
        room.admins.discard(user)


def remove_member(tx: Tx, user: str) -> None:
    """A member goes (left, kicked, grace over): seat, request, invite and admin grant too."""
    room = tx.room
    seat = room.seat_of(user)
    if seat is not None:
        vacate(tx, seat)
    drop_request(tx, user)
    room.invites.pop(user, None)
    room.admins.discard(user)
    room.props = room.props.without(user)  # a voice effect goes with its speaker
    del room.members[user]
    tx.to_moderators(EventType.MEMBER_LEFT, {"user": user})
    tx.audience_changed()
    tx.emit(EventType.GONE, {"user": user})


def to_chatroom(tx: Tx, *, auto: bool) -> None:
    room = tx.room
    room.mode = Mode.CHATROOM
    # The live guest keeps seat 0 with its flags.
    room.seats = [room.seats[0], *(Seat(i) for i in range(1, room.seat_count))]
    tx.emit(EventType.MODE_CHANGED,
            {"mode": room.mode.value, "seats": room.seats_wire(), "auto": auto})


def to_live(tx: Tx) -> None:
    room = tx.room
    first = room.seats[0]
    room.mode = Mode.LIVE
    # Every seated user goes back to the audience; seat 0 keeps its own flags.
    room.seats = [Seat(0, muted=first.muted, locked=first.locked)]
    for user, index in list(room.invites.items()):
        if index is not None and index >= len(room.seats):
            del room.invites[user]
    tx.emit(EventType.MODE_CHANGED,
            {"mode": room.mode.value, "seats": room.seats_wire(), "auto": False})


def back_from_away(tx: Tx, member: Member) -> None:
    room = tx.room
    room.members[member.user] = member._replace(away_until=None)
    seat = room.seat_of(member.user)
    if seat is not None:
        seat.away = False
        tx.seat_changed(seat)
    if member.user == room.host:
        tx.emit(EventType.ROOM_STATE)


def member_named(room: Room, user: str) -> Member:
    member = room.members.get(user)
    if member is None:
        raise RoomError(ErrorCode.NOT_IN_ROOM, f"user {user!r} is not in this room")
    return member


# -- who may send a command ----------------------------------------------------------------


class Access(IntEnum):
    """Who may send a command, checked in PRECEDENCE order before the handler runs."""

    ANYONE = 0  # not banned
    MEMBER = 1
    MODERATOR = 2
    HOST = 3
    INTERNAL = 4  # Disconnect/Expire: sent by the server itself


def check_access(room: Room, user: str, access: Access) -> None:
    if user in room.banned:
        raise RoomError(ErrorCode.BANNED, "you are banned from this room")
    if access is Access.ANYONE:
        return
    if not room.is_member(user):
        raise RoomError(ErrorCode.NOT_IN_ROOM, "you are not in this room")
    if access is Access.MODERATOR and not room.is_moderator(user):
        raise RoomError(ErrorCode.FORBIDDEN, "only the host or an admin may do this")
    if access is Access.HOST and user != room.host:
        raise RoomError(ErrorCode.FORBIDDEN, "only the host may do this")
