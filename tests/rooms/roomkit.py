"""Helpers for the room tests: build rooms through the real state machine, check refusals."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pytest

from protocol.errors import ErrorCode
from protocol.schema import (
    AnswerInvite,
    CreateRoom,
    InviteToSeat,
    JoinRoom,
    OpenChatroom,
    SeatMode,
    SetAdmin,
)
from rooms.machine import Actor, Event, Outcome, RoomError, apply, create_room
from rooms.model import Room

RID = "r1"
NOW = 1000.0
HOST = "host"


def actor(user: str) -> Actor:
    return Actor(user, user.capitalize(), f"conn-{user}")


def new_room(
    *,
    seats: int = 8,
    seat_mode: SeatMode = SeatMode.APPLY,
    auto_chatroom_at: int = 0,
    room_id: str = RID,
    host: str = HOST,
    now: float = NOW,
) -> Room:
    outcome = create_room(room_id, actor(host), CreateRoom("Room", seats, seat_mode,
                                                          auto_chatroom_at), now)
    assert outcome.room is not None
    return outcome.room


def ok(room: Room, user: str, cmd: object, now: float = NOW) -> Outcome:
    """Apply a command that must succeed; the input room must stay as it was."""
    before = room.to_dict()
    outcome = apply(room, actor(user), cmd, now)
    assert room.to_dict() == before, "apply changed its input room"
    return outcome


def step(room: Room, user: str, cmd: object, now: float = NOW) -> Room:
    outcome = ok(room, user, cmd, now)
    assert outcome.room is not None
    return outcome.room


def refused(room: Room, user: str, cmd: object, now: float = NOW) -> ErrorCode:
    """Apply a command that must be refused; return its code. Nothing may change."""
    before = room.to_dict()
    with pytest.raises(RoomError) as info:
        apply(room, actor(user), cmd, now)
    assert room.to_dict() == before
    assert info.value.message
    return info.value.code


def build(
    *,
    seats: int = 8,
    seat_mode: SeatMode = SeatMode.APPLY,
    auto_chatroom_at: int = 0,
    audience: Iterable[str] = ("a", "b", "c", "d"),
    admins: Iterable[str] = ("adm",),
    chatroom: bool = False,
    seated: dict[str, int] | None = None,
) -> Room:
    """A room with the host, admins and audience joined; `seated` users put on seats."""
    room = new_room(seats=seats, seat_mode=seat_mode, auto_chatroom_at=auto_chatroom_at)
    admins = list(admins)
    for user in [*admins, *audience]:
        room = step(room, user, JoinRoom(RID))
    for user in admins:
        room = step(room, HOST, SetAdmin(RID, user, True))
    if chatroom:
        room = step(room, HOST, OpenChatroom(RID))
    for user, index in (seated or {}).items():
        room = sit(room, user, index)
    return room


def sit(room: Room, user: str, index: int) -> Room:
    room = step(room, HOST, InviteToSeat(RID, user, index))
    return step(room, user, AnswerInvite(RID, True))


def kinds(events: list[Event]) -> list[str]:
    return [event.type for event in events]


def only(events: list[Event], type_: str) -> Event:
    matching = [event for event in events if event.type == type_]
    assert len(matching) == 1, f"{type_}: {kinds(events)}"
    return matching[0]


def seat_wire(room: Room, index: int) -> dict[str, Any]:
    return room.seats[index].to_wire()


def check_invariants(room: Room) -> None:
    """docs/protocol.md invariants 1, 2 and 4 within one room, plus the model's own consistency."""
    capacity = 1 if room.mode.value == "live" else room.seat_count
    assert len(room.seats) == capacity <= 8
    assert [seat.index for seat in room.seats] == list(range(capacity))
    seated = [seat.user for seat in room.seats if seat.user is not None]
    assert len(seated) == len(set(seated)), "a user holds two seats"
    for seat in room.seats:
        if seat.user is None:
            assert seat.name is None and not seat.self_muted and not seat.away
        else:
            assert seat.user in room.members, "a seated user is not a member"
            assert not seat.locked, "a locked seat is occupied"
            assert seat.away == (room.members[seat.user].away_until is not None)
    assert room.host in room.members and room.host not in seated
    assert room.members[room.host].role.value == "host"
    queued = [request.user for request in room.queue]
    assert len(queued) == len(set(queued)), "a user is queued twice"
    assert all(user in room.members and user not in seated for user in queued)
    assert [r.at for r in room.queue] == sorted(r.at for r in room.queue)
    assert room.admins == {u for u, m in room.members.items() if m.role.value == "admin"}
    assert not (room.banned & set(room.members))
    assert all(user in room.members and user not in seated for user in room.invites)
