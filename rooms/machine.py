"""The room state machine: every rule of PROTOCOL.md about roles, modes, seats, the queue.

PURE: no I/O, no clock (callers pass `now`). `apply(room, actor, command, now)` works on a
copy of `room` and returns an `Outcome` (the new room, the reply, the events), or raises
`RoomError` and changes nothing. One small handler per command, looked up in `_HANDLERS`;
the access checks every command shares run first, in `protocol.errors.PRECEDENCE` order
(`banned`, `not_in_room`, `forbidden`), then each handler checks the state errors in the
same order.

The version: `apply` bumps `room.version` by one for every change it makes. A command that
changes nothing (a chat line, a re-join) keeps the version, so a store may skip the write
and only pass the events on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

from protocol.errors import ErrorCode, ProtocolError
from protocol.schema import (
    CHAT_MAX,
    MAX_SEATS,
    NOTE_MAX,
    TITLE_MAX,
    AcceptMic,
    AnswerInvite,
    CancelMicRequest,
    Chat,
    CloseChatroom,
    CloseRoom,
    CreateRoom,
    InviteToSeat,
    JoinRoom,
    KickMember,
    KickSeat,
    LeaveRoom,
    LeaveSeat,
    LockSeat,
    Mode,
    Mute,
    MuteSeat,
    OpenChatroom,
    RejectMic,
    RequestMic,
    Role,
    SeatMode,
    SetAdmin,
    SwitchSeat,
    TakeSeat,
    UnlockSeat,
    Unmute,
    UnmuteSeat,
)
from rooms.model import Member, MicRequest, Room, Seat

# Named bounds (PROTOCOL.md leaves them to the server).
MAX_MEMBERS = 10_000
MAX_QUEUE = 200


# -- values in and out ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Actor:
    """Who sends a command: the user, their display name, and (when known) the connection."""

    user: str
    name: str
    conn: str | None = None


SYSTEM = Actor("", "")  # the actor of internal commands that nobody sent (Expire)


@dataclass(frozen=True, slots=True)
class Event:
    """An event to fan out. `to` is None for every member, else the recipients' user ids.

    Types starting with `_` are signals between server parts, never sent to clients:
    `_joined {user, conn}` (a connection joined the room: the user's other connections to it
    are replaced) and `_gone {user}` (no longer a member: drop their subscription and media).
    A `room_state` event carries no data: the sender adds `state: room.state_for(recipient)`,
    since the queue is shown to the host and admins only.
    """

    type: str
    data: dict[str, Any] = field(default_factory=dict)
    to: frozenset[str] | None = None

    @property
    def internal(self) -> bool:
        return self.type.startswith("_")

    def wire(self, room_id: str) -> dict[str, Any]:
        return {"type": self.type, "room": room_id, **self.data}


@dataclass(slots=True)
class Outcome:
    """The result of a command: the room after it (None: the room is closed), the reply's
    result fields (without `id`/`type`), and the events it causes, in order."""

    room: Room | None
    reply: dict[str, Any]
    events: list[Event]


class RoomError(ProtocolError):
    """A refused command; the room is unchanged."""

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


# -- the transaction a handler works in ----------------------------------------------------


class _Tx:
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

    def emit(self, type_: str, data: dict[str, Any] | None = None,
             to: frozenset[str] | None = None) -> None:
        self.events.append(Event(type_, data or {}, to))

    def to_moderators(self, type_: str, data: dict[str, Any]) -> None:
        self.emit(type_, data, self.room.moderators())

    def to_user(self, user: str, type_: str, data: dict[str, Any]) -> None:
        self.emit(type_, data, frozenset({user}))

    def seat_changed(self, seat: Seat) -> None:
        self.emit("seat_changed", {"seat": seat.to_wire()})

    def audience_changed(self) -> None:
        self.emit("audience_changed", {"count": self.room.audience_count})

    def close(self, reason: str) -> None:
        self.emit("room_closed", {"reason": reason})
        self.closed = True


# -- shared rules --------------------------------------------------------------------------


def _no_such_seat(index: int, room: Room) -> RoomError:
    return RoomError(
        ErrorCode.NO_SUCH_SEAT,
        f"seat {index} does not exist (seats 0 to {len(room.seats) - 1} in {room.mode} mode)",
    )


def _seat_or_error(room: Room, index: int) -> Seat:
    seat = room.seat_at(index)
    if seat is None:
        raise _no_such_seat(index, room)
    return seat


def _claim(room: Room, index: int | None, claimant: str) -> Seat:
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
    seat = _seat_or_error(room, index)
    if seat.locked:
        raise RoomError(ErrorCode.SEAT_LOCKED, f"seat {index} is locked")
    if seat.user == claimant:
        raise RoomError(ErrorCode.ALREADY_SEATED, f"you are already on seat {index}")
    if seat.user is not None:
        raise RoomError(ErrorCode.SEAT_TAKEN, f"seat {index} is taken")
    return seat


def _not_seated_here(room: Room, user: str, who: str = "you") -> None:
    seat = room.seat_of(user)
    if seat is not None:
        raise RoomError(
            ErrorCode.ALREADY_SEATED,
            f"{who} {'are' if who == 'you' else 'is'} already on seat {seat.index}",
        )


def _drop_request(tx: _Tx, user: str) -> bool:
    """Remove the user's mic-link request, telling the host and admins. Whenever a queue
    entry goes (cancelled, accepted, rejected, seated, gone), they get
    `mic_request_cancelled`, so their copy of the queue stays right."""
    queue = tx.room.queue
    for i, request in enumerate(queue):
        if request.user == user:
            del queue[i]
            tx.to_moderators("mic_request_cancelled", {"user": user})
            return True
    return False


def _sit(tx: _Tx, seat: Seat, user: str) -> None:
    """Put a member on a free seat; their request and invite are spent."""
    member = tx.room.members[user]
    seat.user = user
    seat.name = member.name
    seat.self_muted = False
    seat.away = member.away_until is not None
    tx.room.invites.pop(user, None)
    tx.seat_changed(seat)
    _drop_request(tx, user)


def _vacate(tx: _Tx, seat: Seat) -> None:
    seat.free()
    tx.seat_changed(seat)


def _set_role(room: Room, user: str, role: Role) -> None:
    member = room.members[user]
    room.members[user] = member._replace(role=role)
    if role is Role.ADMIN:
        room.admins.add(user)
    else:
        room.admins.discard(user)


def _remove_member(tx: _Tx, user: str) -> None:
    """A member goes (left, kicked, grace over): seat, request, invite and admin grant too."""
    room = tx.room
    seat = room.seat_of(user)
    if seat is not None:
        _vacate(tx, seat)
    _drop_request(tx, user)
    room.invites.pop(user, None)
    room.admins.discard(user)
    del room.members[user]
    tx.to_moderators("member_left", {"user": user})
    tx.audience_changed()
    tx.emit("_gone", {"user": user})


def _to_chatroom(tx: _Tx, *, auto: bool) -> None:
    room = tx.room
    room.mode = Mode.CHATROOM
    # The live guest keeps seat 0 with its flags.
    room.seats = [room.seats[0], *(Seat(i) for i in range(1, room.seat_count))]
    tx.emit("mode_changed", {"mode": room.mode.value, "seats": room.seats_wire(), "auto": auto})


def _to_live(tx: _Tx) -> None:
    room = tx.room
    first = room.seats[0]
    room.mode = Mode.LIVE
    # Every seated user goes back to the audience; seat 0 keeps its own flags.
    room.seats = [Seat(0, muted=first.muted, locked=first.locked)]
    for user, index in list(room.invites.items()):
        if index is not None and index >= len(room.seats):
            del room.invites[user]
    tx.emit("mode_changed", {"mode": room.mode.value, "seats": room.seats_wire(), "auto": False})


def _back_from_away(tx: _Tx, member: Member) -> None:
    room = tx.room
    room.members[member.user] = member._replace(away_until=None)
    seat = room.seat_of(member.user)
    if seat is not None:
        seat.away = False
        tx.seat_changed(seat)
    if member.user == room.host:
        tx.emit("room_state")


def _target(room: Room, user: str) -> Member:
    member = room.members.get(user)
    if member is None:
        raise RoomError(ErrorCode.NOT_IN_ROOM, f"user {user!r} is not in this room")
    return member


# -- handlers ------------------------------------------------------------------------------

Handler = Callable[[_Tx, Any], dict[str, Any]]


def _join(tx: _Tx, cmd: JoinRoom) -> dict[str, Any]:
    room, actor = tx.room, tx.actor
    member = room.members.get(actor.user)
    if member is None:
        if len(room.members) >= MAX_MEMBERS:
            raise RoomError(ErrorCode.ROOM_FULL, f"the room is full ({MAX_MEMBERS} members)")
        member = Member(actor.user, actor.name, Role.AUDIENCE)
        room.members[actor.user] = member
        tx.to_moderators(
            "member_joined", {"user": actor.user, "name": actor.name, "role": member.role.value}
        )
        tx.audience_changed()
    elif member.away_until is not None:
        _back_from_away(tx, member)
        member = room.members[actor.user]
    else:
        tx.unchanged()
    tx.emit("_joined", {"user": actor.user, "conn": actor.conn})
    return {"room": room.state_for(actor.user), "role": member.role.value}


def _leave(tx: _Tx, cmd: LeaveRoom) -> dict[str, Any]:
    if tx.actor.user == tx.room.host:
        tx.close("host_left")
    else:
        _remove_member(tx, tx.actor.user)
    return {}


def _close(tx: _Tx, cmd: CloseRoom) -> dict[str, Any]:
    tx.close("closed")
    return {}


def _request_mic(tx: _Tx, cmd: RequestMic) -> dict[str, Any]:
    room, actor = tx.room, tx.actor
    if room.is_moderator(actor.user):
        raise RoomError(ErrorCode.FORBIDDEN, "the host and admins do not request the mic")
    _not_seated_here(room, actor.user)
    if room.queue_position(actor.user) is not None:
        raise RoomError(ErrorCode.ALREADY_REQUESTED, "you already requested the mic")
    if len(room.queue) >= MAX_QUEUE:
        raise RoomError(ErrorCode.ROOM_FULL, "mic-link queue is full")
    name = room.members[actor.user].name
    room.queue.append(MicRequest(actor.user, name, tx.now, cmd.note))
    position = len(room.queue)
    tx.to_moderators(
        "mic_requested",
        {"user": actor.user, "name": name, "position": position, "note": cmd.note},
    )
    if (room.mode is Mode.LIVE and room.auto_chatroom_at > 0
            and len(room.queue) >= room.auto_chatroom_at):
        _to_chatroom(tx, auto=True)
    return {"position": position}


def _cancel_mic_request(tx: _Tx, cmd: CancelMicRequest) -> dict[str, Any]:
    if not _drop_request(tx, tx.actor.user):
        raise RoomError(ErrorCode.NO_SUCH_REQUEST, "you have no mic-link request")
    return {}


def _accept_mic(tx: _Tx, cmd: AcceptMic) -> dict[str, Any]:
    room = tx.room
    seat = _claim(room, cmd.seat, cmd.user)
    if room.queue_position(cmd.user) is None:
        raise RoomError(ErrorCode.NO_SUCH_REQUEST, f"user {cmd.user!r} has no mic-link request")
    tx.to_user(cmd.user, "mic_accepted", {"seat": seat.index})
    _sit(tx, seat, cmd.user)
    return {"seat": seat.index}


def _reject_mic(tx: _Tx, cmd: RejectMic) -> dict[str, Any]:
    if tx.room.queue_position(cmd.user) is None:
        raise RoomError(ErrorCode.NO_SUCH_REQUEST, f"user {cmd.user!r} has no mic-link request")
    tx.to_user(cmd.user, "mic_rejected", {})
    _drop_request(tx, cmd.user)
    return {}


def _open_chatroom(tx: _Tx, cmd: OpenChatroom) -> dict[str, Any]:
    if tx.room.mode is Mode.CHATROOM:
        raise RoomError(ErrorCode.WRONG_MODE, "the room is already a chatroom")
    _to_chatroom(tx, auto=False)
    return {"room": tx.room.state_for(tx.actor.user)}


def _close_chatroom(tx: _Tx, cmd: CloseChatroom) -> dict[str, Any]:
    if tx.room.mode is Mode.LIVE:
        raise RoomError(ErrorCode.WRONG_MODE, "the room is not a chatroom")
    _to_live(tx)
    return {"room": tx.room.state_for(tx.actor.user)}


def _take_seat(tx: _Tx, cmd: TakeSeat) -> dict[str, Any]:
    room, user = tx.room, tx.actor.user
    role = room.role_of(user)
    if role is Role.HOST:
        raise RoomError(ErrorCode.FORBIDDEN, "the host speaks without a seat")
    if role is Role.AUDIENCE and room.seat_mode is SeatMode.APPLY:
        if user not in room.invites:
            raise RoomError(ErrorCode.FORBIDDEN,
                            "seats are by request in this room: use request_mic")
        invited = room.invites[user]
        if invited is not None and invited != cmd.seat:
            raise RoomError(ErrorCode.FORBIDDEN, f"you were invited to seat {invited}")
    seat = _claim(room, cmd.seat, user)
    _not_seated_here(room, user)
    _sit(tx, seat, user)
    return {"seat": seat.index}


def _leave_seat(tx: _Tx, cmd: LeaveSeat) -> dict[str, Any]:
    seat = tx.room.seat_of(tx.actor.user)
    if seat is None:
        raise RoomError(ErrorCode.NOT_SEATED, "you are not on a seat")
    _vacate(tx, seat)
    return {}


def _switch_seat(tx: _Tx, cmd: SwitchSeat) -> dict[str, Any]:
    room, user = tx.room, tx.actor.user
    target = _seat_or_error(room, cmd.seat)
    current = room.seat_of(user)
    if target is current:
        tx.unchanged()
        return {"seat": target.index}
    if target.locked:
        raise RoomError(ErrorCode.SEAT_LOCKED, f"seat {cmd.seat} is locked")
    if target.user is not None:
        raise RoomError(ErrorCode.SEAT_TAKEN, f"seat {cmd.seat} is taken")
    if current is None:
        raise RoomError(ErrorCode.NOT_SEATED, "you are not on a seat")
    target.user, target.name = current.user, current.name
    target.self_muted, target.away = current.self_muted, current.away
    current.free()
    tx.seat_changed(current)
    tx.seat_changed(target)
    return {"seat": target.index}


def _invite_to_seat(tx: _Tx, cmd: InviteToSeat) -> dict[str, Any]:
    room = tx.room
    target = _target(room, cmd.user)
    if target.role is Role.HOST:
        raise RoomError(ErrorCode.FORBIDDEN, "the host speaks without a seat")
    if cmd.seat is not None:
        _claim(room, cmd.seat, cmd.user)
    _not_seated_here(room, cmd.user, who=f"user {cmd.user!r}")
    room.invites[cmd.user] = cmd.seat
    tx.to_user(cmd.user, "seat_invited", {"seat": cmd.seat, "by": tx.actor.user,
                                          "by_name": tx.actor.name})
    return {}


def _answer_invite(tx: _Tx, cmd: AnswerInvite) -> dict[str, Any]:
    room, user = tx.room, tx.actor.user
    if user not in room.invites:
        raise RoomError(ErrorCode.NO_SUCH_REQUEST, "you have no seat invitation")
    if not cmd.accept:
        del room.invites[user]
        return {}
    seat = _claim(room, room.invites[user], user)
    _not_seated_here(room, user)
    _sit(tx, seat, user)
    return {"seat": seat.index}


def _kick_seat(tx: _Tx, cmd: KickSeat) -> dict[str, Any]:
    seat = _seat_or_error(tx.room, cmd.seat)
    if seat.user is None:
        raise RoomError(ErrorCode.NOT_SEATED, f"seat {cmd.seat} is empty")
    _vacate(tx, seat)
    return {}


def _set_seat_flag(attr: str, value: bool) -> Handler:
    def handler(tx: _Tx, cmd: LockSeat | UnlockSeat | MuteSeat | UnmuteSeat) -> dict[str, Any]:
        seat = _seat_or_error(tx.room, cmd.seat)
        if getattr(seat, attr) == value:
            return {}  # idempotent: already so
        if attr == "locked" and value and seat.user is not None:
            seat.free()  # locking an occupied seat frees it first
        setattr(seat, attr, value)
        tx.seat_changed(seat)
        return {}

    handler.__name__ = f"_set_{attr}_{value}"
    return handler


def _self_mute(value: bool) -> Handler:
    def handler(tx: _Tx, cmd: Mute | Unmute) -> dict[str, Any]:
        room, user = tx.room, tx.actor.user
        if user == room.host:
            if room.host_self_muted != value:
                room.host_self_muted = value
                tx.emit("room_state")  # the host's flags travel in the room state only
            return {}
        seat = room.seat_of(user)
        if seat is None:
            raise RoomError(ErrorCode.NOT_SEATED, "only the host and seated users have a mic")
        if seat.self_muted != value:
            seat.self_muted = value
            tx.seat_changed(seat)
        return {}

    handler.__name__ = f"_self_mute_{value}"
    return handler


def _kick_member(tx: _Tx, cmd: KickMember) -> dict[str, Any]:
    room = tx.room
    target = room.members.get(cmd.user)
    if target is None and not cmd.ban:
        raise RoomError(ErrorCode.NOT_IN_ROOM, f"user {cmd.user!r} is not in this room")
    if cmd.user == room.host:
        raise RoomError(ErrorCode.FORBIDDEN, "nobody can kick the host")
    if target is not None and target.role is Role.ADMIN and tx.actor.user != room.host:
        raise RoomError(ErrorCode.FORBIDDEN, "only the host can kick an admin")
    if cmd.ban:
        room.banned.add(cmd.user)
    if target is not None:
        tx.to_user(cmd.user, "kicked", {"reason": "banned" if cmd.ban else "kicked"})
        _remove_member(tx, cmd.user)
    return {}


def _set_admin(tx: _Tx, cmd: SetAdmin) -> dict[str, Any]:
    room = tx.room
    target = _target(room, cmd.user)
    if target.role is Role.HOST:
        raise RoomError(ErrorCode.FORBIDDEN, "the host's role cannot change")
    role = Role.ADMIN if cmd.admin else Role.AUDIENCE
    if target.role is not role:
        _set_role(room, cmd.user, role)
        tx.emit("role_changed", {"user": cmd.user, "role": role.value})
    return {}


def _chat(tx: _Tx, cmd: Chat) -> dict[str, Any]:
    tx.unchanged()
    name = tx.room.members[tx.actor.user].name
    tx.emit("chat_message", {"user": tx.actor.user, "name": name, "text": cmd.text})
    return {}


def _disconnect(tx: _Tx, cmd: Disconnect) -> dict[str, Any]:
    room, user = tx.room, tx.actor.user
    member = room.members[user]
    if member.away_until is not None:
        tx.unchanged()  # already away: the first deadline stands
        return {}
    is_host = user == room.host
    grace = cmd.host_grace if is_host else cmd.grace
    room.members[user] = member._replace(away_until=tx.now + grace)
    seat = room.seat_of(user)
    if seat is not None:
        seat.away = True
        tx.seat_changed(seat)
    if is_host:
        tx.emit("room_state")
    return {}


def _expire(tx: _Tx, cmd: Expire) -> dict[str, Any]:
    room = tx.room
    due = sorted(
        (m for m in room.members.values()
         if m.away_until is not None and m.away_until <= tx.now),
        key=lambda m: (m.away_until, m.user),
    )
    if not due:
        tx.unchanged()
        return {}
    if any(member.user == room.host for member in due):
        tx.close("host_left")  # the room goes: nobody else's expiry matters
        return {}
    for member in due:
        _remove_member(tx, member.user)
    return {}


class _Access(IntEnum):
    """Who may send a command, checked in PRECEDENCE order before the handler runs."""

    ANYONE = 0  # not banned
    MEMBER = 1
    MODERATOR = 2
    HOST = 3
    INTERNAL = 4  # Disconnect/Expire: sent by the server itself


_HANDLERS: dict[type, tuple[_Access, Handler]] = {
    JoinRoom: (_Access.ANYONE, _join),
    LeaveRoom: (_Access.MEMBER, _leave),
    CloseRoom: (_Access.HOST, _close),
    RequestMic: (_Access.MEMBER, _request_mic),
    CancelMicRequest: (_Access.MEMBER, _cancel_mic_request),
    AcceptMic: (_Access.MODERATOR, _accept_mic),
    RejectMic: (_Access.MODERATOR, _reject_mic),
    OpenChatroom: (_Access.HOST, _open_chatroom),
    CloseChatroom: (_Access.HOST, _close_chatroom),
    TakeSeat: (_Access.MEMBER, _take_seat),
    LeaveSeat: (_Access.MEMBER, _leave_seat),
    SwitchSeat: (_Access.MEMBER, _switch_seat),
    InviteToSeat: (_Access.MODERATOR, _invite_to_seat),
    AnswerInvite: (_Access.MEMBER, _answer_invite),
    KickSeat: (_Access.MODERATOR, _kick_seat),
    LockSeat: (_Access.MODERATOR, _set_seat_flag("locked", True)),
    UnlockSeat: (_Access.MODERATOR, _set_seat_flag("locked", False)),
    MuteSeat: (_Access.MODERATOR, _set_seat_flag("muted", True)),
    UnmuteSeat: (_Access.MODERATOR, _set_seat_flag("muted", False)),
    Mute: (_Access.MEMBER, _self_mute(True)),
    Unmute: (_Access.MEMBER, _self_mute(False)),
    KickMember: (_Access.MODERATOR, _kick_member),
    SetAdmin: (_Access.HOST, _set_admin),
    Chat: (_Access.MEMBER, _chat),
    Disconnect: (_Access.INTERNAL, _disconnect),
    Expire: (_Access.INTERNAL, _expire),
}

ROOM_COMMANDS: frozenset[type] = frozenset(_HANDLERS)


def _check_access(room: Room, user: str, access: _Access) -> None:
    if user in room.banned:
        raise RoomError(ErrorCode.BANNED, "you are banned from this room")
    if access is _Access.ANYONE:
        return
    if not room.is_member(user):
        raise RoomError(ErrorCode.NOT_IN_ROOM, "you are not in this room")
    if access is _Access.MODERATOR and not room.is_moderator(user):
        raise RoomError(ErrorCode.FORBIDDEN, "only the host or an admin may do this")
    if access is _Access.HOST and user != room.host:
        raise RoomError(ErrorCode.FORBIDDEN, "only the host may do this")


def _check_fields(cmd: object) -> None:
    """Bounds `protocol.validate` already enforces, checked again: the machine trusts no one."""
    if isinstance(cmd, RequestMic) and len(cmd.note) > NOTE_MAX:
        raise RoomError(ErrorCode.BAD_REQUEST, f"note: at most {NOTE_MAX} characters",
                        field="note")
    if isinstance(cmd, Chat) and not 1 <= len(cmd.text) <= CHAT_MAX:
        raise RoomError(ErrorCode.BAD_REQUEST, f"text: 1 to {CHAT_MAX} characters", field="text")


# -- entry points --------------------------------------------------------------------------


def apply(room: Room, actor: Actor, cmd: object, now: float) -> Outcome:
    """Apply one command to a room; `room` itself is never changed."""
    entry = _HANDLERS.get(type(cmd))
    if entry is None:
        raise RoomError(ErrorCode.BAD_REQUEST, f"{type(cmd).__name__} is not a room command")
    access, handler = entry
    _check_fields(cmd)
    if access is _Access.INTERNAL:
        if isinstance(cmd, Disconnect) and not room.is_member(actor.user):
            raise RoomError(ErrorCode.NOT_IN_ROOM, "you are not in this room")
    else:
        _check_access(room, actor.user, access)
    tx = _Tx(room.copy(), actor, now)
    reply = handler(tx, cmd)
    if tx.closed:
        return Outcome(None, reply, tx.events)
    if tx.changed:
        tx.room.version = room.version + 1
    return Outcome(tx.room, reply, tx.events)


def create_room(room_id: str, actor: Actor, cmd: CreateRoom, now: float) -> Outcome:
    """A new room with the actor as host and only member (version 1)."""
    if not 1 <= len(cmd.title) <= TITLE_MAX:
        raise RoomError(ErrorCode.BAD_REQUEST, f"title: 1 to {TITLE_MAX} characters",
                        field="title")
    if not 1 <= cmd.seats <= MAX_SEATS:
        raise RoomError(ErrorCode.BAD_REQUEST, f"seats: 1 to {MAX_SEATS}", field="seats")
    if cmd.auto_chatroom_at < 0:
        raise RoomError(ErrorCode.BAD_REQUEST, "auto_chatroom_at: an integer >= 0",
                        field="auto_chatroom_at")
    room = Room(
        id=room_id,
        title=cmd.title,
        host=actor.user,
        host_name=actor.name,
        mode=Mode.LIVE,
        seat_count=cmd.seats,
        seat_mode=SeatMode(cmd.seat_mode),
        auto_chatroom_at=cmd.auto_chatroom_at,
        seats=[Seat(0)],
        members={actor.user: Member(actor.user, actor.name, Role.HOST)},
        version=1,
        created_at=now,
    )
    events = [Event("_joined", {"user": actor.user, "conn": actor.conn})]
    return Outcome(room, {"room": room.state_for(actor.user)}, events)


def check_offer(room: Room | None, actor: Actor) -> None:
    """May this actor make a media connection to the room? (`webrtc_offer` is the gateway's.)"""
    if room is None:
        raise RoomError(ErrorCode.NO_SUCH_ROOM, "no such room")
    _check_access(room, actor.user, _Access.MEMBER)
