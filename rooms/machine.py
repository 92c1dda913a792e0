"""The room state machine: the rules of docs/protocol.md about roles, modes, seats, the queue.

This module is one handler table and reads best whole: a handler per command, the table
that names each command's access and handler, and the entry points (`apply`, `create_room`,
`check_offer`). The values it takes and gives are in `rooms.values`, its events in
`rooms.events`, the moves handlers share in `rooms.rules`.

PURE: no I/O, no clock (callers pass `now`). `apply(room, actor, command, now)` works on a
copy of `room` and returns an `Outcome` (the new room, the reply, the events), or raises
`RoomError` and changes nothing. The access checks every command shares run first, in
`protocol.errors.PRECEDENCE` order (`banned`, `not_in_room`, `forbidden`), then each handler
checks the state errors in the same order.

The version: `apply` bumps `room.version` by one for every change it makes. A command that
changes nothing (a chat line, a re-join) keeps the version, so a store may skip the write
and only pass the events on.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from protocol.errors import ErrorCode
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
from rooms.events import Event, EventType
from rooms.model import Member, MicRequest, Room, Seat
from rooms.rules import (
    Access,
    Tx,
    back_from_away,
    check_access,
    claim,
    drop_request,
    member_named,
    not_seated_here,
    remove_member,
    seat_or_error,
    set_role,
    sit,
    to_chatroom,
    to_live,
    vacate,
)
from rooms.values import SYSTEM, Actor, Disconnect, Expire, Outcome, RoomError

# The machine's surface: what the service, the stores and the server import from here.
__all__ = [
    "MAX_BANS", "MAX_MEMBERS", "MAX_QUEUE", "ROOM_COMMANDS", "SYSTEM", "Actor", "Disconnect",
    "Event", "EventType", "Expire", "Outcome", "RoomError", "apply", "check_offer",
    "create_room",
]

# Named bounds (docs/protocol.md leaves them to the server).
MAX_MEMBERS = 10_000
MAX_QUEUE = 200
# Users one room may ban (`forbidden` past it): a ban list is read on every full load of the
# room (docs/security.md).
MAX_BANS = 1_000


# -- handlers ------------------------------------------------------------------------------

Handler = Callable[[Tx, Any], dict[str, Any]]


def _join(tx: Tx, cmd: JoinRoom) -> dict[str, Any]:
    room, actor = tx.room, tx.actor
    member = room.members.get(actor.user)
    if member is None:
        if len(room.members) >= MAX_MEMBERS:
            raise RoomError(ErrorCode.ROOM_FULL, f"the room is full ({MAX_MEMBERS} members)")
        member = Member(actor.user, actor.name, Role.AUDIENCE)
        room.members[actor.user] = member
        tx.to_moderators(
            EventType.MEMBER_JOINED,
            {"user": actor.user, "name": actor.name, "role": member.role.value},
        )
        tx.audience_changed()
    elif member.away_until is not None:
        back_from_away(tx, member)
        member = room.members[actor.user]
    else:
        tx.unchanged()
    tx.emit(EventType.JOINED, {"user": actor.user, "conn": actor.conn})
    return {"room": room.state_for(actor.user), "role": member.role.value}


def _leave(tx: Tx, cmd: LeaveRoom) -> dict[str, Any]:
    if tx.actor.user == tx.room.host:
        tx.close("host_left")
    else:
        remove_member(tx, tx.actor.user)
    return {}


def _close(tx: Tx, cmd: CloseRoom) -> dict[str, Any]:
    tx.close("closed")
    return {}


def _request_mic(tx: Tx, cmd: RequestMic) -> dict[str, Any]:
    room, actor = tx.room, tx.actor
    if room.is_moderator(actor.user):
        raise RoomError(ErrorCode.FORBIDDEN, "the host and admins do not request the mic")
    not_seated_here(room, actor.user)
    if room.queue_position(actor.user) is not None:
        raise RoomError(ErrorCode.ALREADY_REQUESTED, "you already requested the mic")
    if len(room.queue) >= MAX_QUEUE:
        raise RoomError(ErrorCode.ROOM_FULL, "mic-link queue is full")
    name = room.members[actor.user].name
    room.queue.append(MicRequest(actor.user, name, tx.now, cmd.note))
    position = len(room.queue)
    tx.to_moderators(
        EventType.MIC_REQUESTED,
        {"user": actor.user, "name": name, "position": position, "note": cmd.note},
    )
    if (room.mode is Mode.LIVE and room.auto_chatroom_at > 0
            and len(room.queue) >= room.auto_chatroom_at):
        to_chatroom(tx, auto=True)
    return {"position": position}


def _cancel_mic_request(tx: Tx, cmd: CancelMicRequest) -> dict[str, Any]:
    if not drop_request(tx, tx.actor.user):
        raise RoomError(ErrorCode.NO_SUCH_REQUEST, "you have no mic-link request")
    return {}


def _accept_mic(tx: Tx, cmd: AcceptMic) -> dict[str, Any]:
    room = tx.room
    seat = claim(room, cmd.seat, cmd.user)
    if room.queue_position(cmd.user) is None:
        raise RoomError(ErrorCode.NO_SUCH_REQUEST, f"user {cmd.user!r} has no mic-link request")
    tx.to_user(cmd.user, EventType.MIC_ACCEPTED, {"seat": seat.index})
    sit(tx, seat, cmd.user)
    return {"seat": seat.index}


def _reject_mic(tx: Tx, cmd: RejectMic) -> dict[str, Any]:
    if tx.room.queue_position(cmd.user) is None:
        raise RoomError(ErrorCode.NO_SUCH_REQUEST, f"user {cmd.user!r} has no mic-link request")
    tx.to_user(cmd.user, EventType.MIC_REJECTED, {})
    drop_request(tx, cmd.user)
    return {}


def _open_chatroom(tx: Tx, cmd: OpenChatroom) -> dict[str, Any]:
    if tx.room.mode is Mode.CHATROOM:
        raise RoomError(ErrorCode.WRONG_MODE, "the room is already a chatroom")
    to_chatroom(tx, auto=False)
    return {"room": tx.room.state_for(tx.actor.user)}


def _close_chatroom(tx: Tx, cmd: CloseChatroom) -> dict[str, Any]:
    if tx.room.mode is Mode.LIVE:
        raise RoomError(ErrorCode.WRONG_MODE, "the room is not a chatroom")
    to_live(tx)
    return {"room": tx.room.state_for(tx.actor.user)}


def _take_seat(tx: Tx, cmd: TakeSeat) -> dict[str, Any]:
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
    seat = claim(room, cmd.seat, user)
    not_seated_here(room, user)
    sit(tx, seat, user)
    return {"seat": seat.index}


def _leave_seat(tx: Tx, cmd: LeaveSeat) -> dict[str, Any]:
    seat = tx.room.seat_of(tx.actor.user)
    if seat is None:
        raise RoomError(ErrorCode.NOT_SEATED, "you are not on a seat")
    vacate(tx, seat)
    return {}


def _switch_seat(tx: Tx, cmd: SwitchSeat) -> dict[str, Any]:
    room, user = tx.room, tx.actor.user
    target = seat_or_error(room, cmd.seat)
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


def _invite_to_seat(tx: Tx, cmd: InviteToSeat) -> dict[str, Any]:
    room = tx.room
    target = member_named(room, cmd.user)
    if target.role is Role.HOST:
        raise RoomError(ErrorCode.FORBIDDEN, "the host speaks without a seat")
    if cmd.seat is not None:
        claim(room, cmd.seat, cmd.user)
    not_seated_here(room, cmd.user, who=f"user {cmd.user!r}")
    room.invites[cmd.user] = cmd.seat
    tx.to_user(cmd.user, EventType.SEAT_INVITED, {"seat": cmd.seat, "by": tx.actor.user,
                                          "by_name": tx.actor.name})
    return {}


def _answer_invite(tx: Tx, cmd: AnswerInvite) -> dict[str, Any]:
    room, user = tx.room, tx.actor.user
    if user not in room.invites:
        raise RoomError(ErrorCode.NO_SUCH_REQUEST, "you have no seat invitation")
    if not cmd.accept:
        del room.invites[user]
        return {}
    seat = claim(room, room.invites[user], user)
    not_seated_here(room, user)
    sit(tx, seat, user)
    return {"seat": seat.index}


def _kick_seat(tx: Tx, cmd: KickSeat) -> dict[str, Any]:
    seat = seat_or_error(tx.room, cmd.seat)
    if seat.user is None:
        raise RoomError(ErrorCode.NOT_SEATED, f"seat {cmd.seat} is empty")
    vacate(tx, seat)
    return {}


def _set_seat_flag(attr: str, value: bool) -> Handler:
    def handler(tx: Tx, cmd: LockSeat | UnlockSeat | MuteSeat | UnmuteSeat) -> dict[str, Any]:
        seat = seat_or_error(tx.room, cmd.seat)
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
    def handler(tx: Tx, cmd: Mute | Unmute) -> dict[str, Any]:
        room, user = tx.room, tx.actor.user
        if user == room.host:
            if room.host_self_muted != value:
                room.host_self_muted = value
                tx.emit(EventType.ROOM_STATE)  # the host's flags travel in the room state only
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


def _kick_member(tx: Tx, cmd: KickMember) -> dict[str, Any]:
    room = tx.room
    target = room.members.get(cmd.user)
    if target is None and not cmd.ban:
        raise RoomError(ErrorCode.NOT_IN_ROOM, f"user {cmd.user!r} is not in this room")
    if cmd.user == room.host:
        raise RoomError(ErrorCode.FORBIDDEN, "nobody can kick the host")
    if target is not None and target.role is Role.ADMIN and tx.actor.user != room.host:
        raise RoomError(ErrorCode.FORBIDDEN, "only the host can kick an admin")
    if cmd.ban and cmd.user not in room.banned:
        if len(room.banned) >= MAX_BANS:
            raise RoomError(ErrorCode.FORBIDDEN,
                            f"this room has banned {MAX_BANS} users, the most it may")
        room.banned.add(cmd.user)
    if target is not None:
        tx.to_user(cmd.user, EventType.KICKED, {"reason": "banned" if cmd.ban else "kicked"})
        remove_member(tx, cmd.user)
    return {}


def _set_admin(tx: Tx, cmd: SetAdmin) -> dict[str, Any]:
    room = tx.room
    target = member_named(room, cmd.user)
    if target.role is Role.HOST:
        raise RoomError(ErrorCode.FORBIDDEN, "the host's role cannot change")
    role = Role.ADMIN if cmd.admin else Role.AUDIENCE
    if target.role is not role:
        set_role(room, cmd.user, role)
        tx.emit(EventType.ROLE_CHANGED, {"user": cmd.user, "role": role.value})
    return {}


def _chat(tx: Tx, cmd: Chat) -> dict[str, Any]:
    tx.unchanged()
    name = tx.room.members[tx.actor.user].name
    tx.emit(EventType.CHAT_MESSAGE, {"user": tx.actor.user, "name": name, "text": cmd.text})
    return {}


def _disconnect(tx: Tx, cmd: Disconnect) -> dict[str, Any]:
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
        tx.emit(EventType.ROOM_STATE)
    return {}


def _expire(tx: Tx, cmd: Expire) -> dict[str, Any]:
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
        remove_member(tx, member.user)
    return {}


_HANDLERS: dict[type, tuple[Access, Handler]] = {
    JoinRoom: (Access.ANYONE, _join),
    LeaveRoom: (Access.MEMBER, _leave),
    CloseRoom: (Access.HOST, _close),
    RequestMic: (Access.MEMBER, _request_mic),
    CancelMicRequest: (Access.MEMBER, _cancel_mic_request),
    AcceptMic: (Access.MODERATOR, _accept_mic),
    RejectMic: (Access.MODERATOR, _reject_mic),
    OpenChatroom: (Access.HOST, _open_chatroom),
    CloseChatroom: (Access.HOST, _close_chatroom),
    TakeSeat: (Access.MEMBER, _take_seat),
    LeaveSeat: (Access.MEMBER, _leave_seat),
    SwitchSeat: (Access.MEMBER, _switch_seat),
    InviteToSeat: (Access.MODERATOR, _invite_to_seat),
    AnswerInvite: (Access.MEMBER, _answer_invite),
    KickSeat: (Access.MODERATOR, _kick_seat),
    LockSeat: (Access.MODERATOR, _set_seat_flag("locked", True)),
    UnlockSeat: (Access.MODERATOR, _set_seat_flag("locked", False)),
    MuteSeat: (Access.MODERATOR, _set_seat_flag("muted", True)),
    UnmuteSeat: (Access.MODERATOR, _set_seat_flag("muted", False)),
    Mute: (Access.MEMBER, _self_mute(True)),
    Unmute: (Access.MEMBER, _self_mute(False)),
    KickMember: (Access.MODERATOR, _kick_member),
    SetAdmin: (Access.HOST, _set_admin),
    Chat: (Access.MEMBER, _chat),
    Disconnect: (Access.INTERNAL, _disconnect),
    Expire: (Access.INTERNAL, _expire),
}

ROOM_COMMANDS: frozenset[type] = frozenset(_HANDLERS)


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
    if access is Access.INTERNAL:
        if isinstance(cmd, Disconnect) and not room.is_member(actor.user):
            raise RoomError(ErrorCode.NOT_IN_ROOM, "you are not in this room")
    else:
        check_access(room, actor.user, access)
    tx = Tx(room.copy(), actor, now)
    reply = handler(tx, cmd)
    if not tx.closed:
        tx.queue_told(len(room.queue))
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
    events = [Event(EventType.JOINED, {"user": actor.user, "conn": actor.conn})]
    return Outcome(room, {"room": room.state_for(actor.user)}, events)


def check_offer(room: Room | None, actor: Actor) -> None:
    """May this actor make a media connection to the room? (`webrtc_offer` is the gateway's.)"""
    if room is None:
        raise RoomError(ErrorCode.NO_SUCH_ROOM, "no such room")
    check_access(room, actor.user, Access.MEMBER)
