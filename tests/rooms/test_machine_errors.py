"""Every refusal of the room state machine, one table row each, precedence cases included.

Each row builds a room through the real machine, applies one command and expects one error
code; `refused` also checks the room is unchanged (a failed request changes nothing).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

from protocol.errors import ErrorCode as E
from protocol.schema import (
    REQUEST_TYPES,
    AcceptMic,
    AnswerInvite,
    CancelMicRequest,
    Chat,
    CloseChatroom,
    CloseRoom,
    CreateRoom,
    Hello,
    InviteToSeat,
    JoinRoom,
    KickMember,
    KickSeat,
    LeaveRoom,
    LeaveSeat,
    ListRooms,
    LockSeat,
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
    WebrtcOffer,
)
from rooms import machine
from rooms.model import Member, Room
from tests.rooms.roomkit import HOST, RID, build, refused, sit, step

R = RID


def chat8(**seated: int) -> Room:
    return build(chatroom=True, seated=seated)


def full_chatroom() -> Room:
    room = build(seats=2, chatroom=True, audience=("a", "b", "c", "d"), seated={"a": 0, "b": 1})
    return step(room, "c", RequestMic(R))


def queued(*users: str, **kw: object) -> Room:
    room = build(**kw)  # type: ignore[arg-type]
    for user in users:
        room = step(room, user, RequestMic(R))
    return room


def banned_x() -> Room:
    return step(build(), HOST, KickMember(R, "x", ban=True))


def locked(index: int, **kw: object) -> Room:
    return step(build(**kw), HOST, LockSeat(R, index))  # type: ignore[arg-type]


def invited(user: str, index: int | None, **kw: object) -> Room:
    return step(build(**kw), HOST, InviteToSeat(R, user, index))  # type: ignore[arg-type]


@dataclass(frozen=True)
class Case:
    name: str
    setup: Callable[[], Room]
    user: str
    cmd: object
    code: E


CASES = [
    # join_room / leave_room / close_room
    Case("join banned", banned_x, "x", JoinRoom(R), E.BANNED),
    Case("leave stranger", build, "x", LeaveRoom(R), E.NOT_IN_ROOM),
    Case("leave banned beats not_in_room", banned_x, "x", LeaveRoom(R), E.BANNED),
    Case("close stranger", build, "x", CloseRoom(R), E.NOT_IN_ROOM),
    Case("close by admin", build, "adm", CloseRoom(R), E.FORBIDDEN),
    Case("close by audience", build, "a", CloseRoom(R), E.FORBIDDEN),
    # request_mic / cancel_mic_request
    Case("request by host", build, HOST, RequestMic(R), E.FORBIDDEN),
    Case("request by admin", build, "adm", RequestMic(R), E.FORBIDDEN),
    Case("request stranger", build, "x", RequestMic(R), E.NOT_IN_ROOM),
    Case("request seated", lambda: build(seated={"a": 0}), "a", RequestMic(R),
         E.ALREADY_SEATED),
    Case("request twice", lambda: queued("a"), "a", RequestMic(R), E.ALREADY_REQUESTED),
    Case("request note too long", build, "a", RequestMic(R, "n" * 141), E.BAD_REQUEST),
    Case("note checked before forbidden", build, HOST, RequestMic(R, "n" * 141),
         E.BAD_REQUEST),
    Case("cancel without request", build, "a", CancelMicRequest(R), E.NO_SUCH_REQUEST),
    Case("cancel stranger", build, "x", CancelMicRequest(R), E.NOT_IN_ROOM),
    # accept_mic / reject_mic
    Case("accept by audience", lambda: queued("a"), "b", AcceptMic(R, "a"), E.FORBIDDEN),
    Case("accept no request", build, HOST, AcceptMic(R, "a"), E.NO_SUCH_REQUEST),
    Case("accept stranger target", build, HOST, AcceptMic(R, "x"), E.NO_SUCH_REQUEST),
    Case("accept no such seat", lambda: queued("a"), HOST, AcceptMic(R, "a", 1),
         E.NO_SUCH_SEAT),
    Case("accept negative seat", lambda: queued("a"), HOST, AcceptMic(R, "a", -1),
         E.NO_SUCH_SEAT),
    Case("no_such_seat beats no_such_request", build, HOST, AcceptMic(R, "a", 5),
         E.NO_SUCH_SEAT),
    Case("accept locked seat", lambda: step(queued("a"), HOST, LockSeat(R, 0)), HOST,
         AcceptMic(R, "a", 0), E.SEAT_LOCKED),
    Case("accept taken seat", lambda: sit(queued("a"), "b", 0), HOST, AcceptMic(R, "a", 0),
         E.SEAT_TAKEN),
    Case("accept: named occupied seat is seat_taken even when all are full", full_chatroom,
         HOST, AcceptMic(R, "c", 1), E.SEAT_TAKEN),
    Case("accept: no seat named and all full", full_chatroom, HOST, AcceptMic(R, "c"),
         E.SEATS_FULL),
    Case("accept: all full and only lock-free seat locked",
         lambda: step(step(full_chatroom(), HOST, KickSeat(R, 1)), HOST, LockSeat(R, 1)),
         HOST, AcceptMic(R, "c"), E.SEATS_FULL),
    Case("seats_full beats no_such_request", full_chatroom, HOST, AcceptMic(R, "d"),
         E.SEATS_FULL),
    Case("seat_taken beats no_such_request", full_chatroom, HOST, AcceptMic(R, "d", 0),
         E.SEAT_TAKEN),
    Case("reject by audience", lambda: queued("a"), "b", RejectMic(R, "a"), E.FORBIDDEN),
    Case("reject no request", build, "adm", RejectMic(R, "a"), E.NO_SUCH_REQUEST),
    # open_chatroom / close_chatroom
    Case("open by admin", build, "adm", OpenChatroom(R), E.FORBIDDEN),
    Case("open twice", lambda: build(chatroom=True), HOST, OpenChatroom(R), E.WRONG_MODE),
    Case("close live", build, HOST, CloseChatroom(R), E.WRONG_MODE),
    Case("close chatroom by admin", lambda: build(chatroom=True), "adm", CloseChatroom(R),
         E.FORBIDDEN),
    Case("forbidden beats wrong_mode", build, "a", CloseChatroom(R), E.FORBIDDEN),
    # take_seat
    Case("take by host", lambda: build(seat_mode=SeatMode.FREE), HOST, TakeSeat(R, 0),
         E.FORBIDDEN),
    Case("take in apply mode uninvited", build, "a", TakeSeat(R, 0), E.FORBIDDEN),
    Case("take other seat than invited", lambda: invited("a", 2, chatroom=True), "a",
         TakeSeat(R, 3), E.FORBIDDEN),
    Case("forbidden beats no_such_seat", build, "a", TakeSeat(R, 9), E.FORBIDDEN),
    Case("take stranger", lambda: build(seat_mode=SeatMode.FREE), "x", TakeSeat(R, 0),
         E.NOT_IN_ROOM),
    Case("take no such seat (live has seat 0 only)", lambda: build(seat_mode=SeatMode.FREE),
         "a", TakeSeat(R, 1), E.NO_SUCH_SEAT),
    Case("take beyond seat_count", lambda: build(seats=3, chatroom=True,
                                                 seat_mode=SeatMode.FREE),
         "a", TakeSeat(R, 3), E.NO_SUCH_SEAT),
    Case("take locked", lambda: locked(0, seat_mode=SeatMode.FREE), "a", TakeSeat(R, 0),
         E.SEAT_LOCKED),
    Case("take taken", lambda: build(seat_mode=SeatMode.FREE, seated={"b": 0}), "a",
         TakeSeat(R, 0), E.SEAT_TAKEN),
    Case("admin take taken", lambda: build(seated={"b": 0}), "adm", TakeSeat(R, 0),
         E.SEAT_TAKEN),
    Case("take own seat", lambda: build(seat_mode=SeatMode.FREE, seated={"a": 0}), "a",
         TakeSeat(R, 0), E.ALREADY_SEATED),
    Case("take second seat", lambda: build(seat_mode=SeatMode.FREE, chatroom=True,
                                           seated={"a": 0}),
         "a", TakeSeat(R, 1), E.ALREADY_SEATED),
    Case("seat_taken beats already_seated",
         lambda: build(seat_mode=SeatMode.FREE, chatroom=True, seated={"a": 0, "b": 1}),
         "a", TakeSeat(R, 1), E.SEAT_TAKEN),
    # leave_seat / switch_seat
    Case("leave seat unseated", build, "a", LeaveSeat(R), E.NOT_SEATED),
    Case("leave seat by host", build, HOST, LeaveSeat(R), E.NOT_SEATED),
    Case("leave seat stranger", build, "x", LeaveSeat(R), E.NOT_IN_ROOM),
    Case("switch unseated", lambda: build(chatroom=True), "a", SwitchSeat(R, 1),
         E.NOT_SEATED),
    Case("switch no such seat", lambda: chat8(a=0), "a", SwitchSeat(R, 8), E.NO_SUCH_SEAT),
    Case("switch locked", lambda: step(chat8(a=0), HOST, LockSeat(R, 3)), "a",
         SwitchSeat(R, 3), E.SEAT_LOCKED),
    Case("switch taken", lambda: chat8(a=0, b=1), "a", SwitchSeat(R, 1), E.SEAT_TAKEN),
    Case("seat_taken beats not_seated", lambda: chat8(b=1), "a", SwitchSeat(R, 1),
         E.SEAT_TAKEN),
    # invite_to_seat / answer_invite
    Case("invite by audience", build, "a", InviteToSeat(R, "b"), E.FORBIDDEN),
    Case("invite stranger", build, HOST, InviteToSeat(R, "x"), E.NOT_IN_ROOM),
    Case("invite the host", build, "adm", InviteToSeat(R, HOST), E.FORBIDDEN),
    Case("invite to no such seat", build, HOST, InviteToSeat(R, "a", 4), E.NO_SUCH_SEAT),
    Case("invite to locked seat", lambda: locked(0), HOST, InviteToSeat(R, "a", 0),
         E.SEAT_LOCKED),
    Case("invite to taken seat", lambda: build(seated={"b": 0}), HOST,
         InviteToSeat(R, "a", 0), E.SEAT_TAKEN),
    Case("invite seated user", lambda: chat8(a=0), HOST, InviteToSeat(R, "a", 1),
         E.ALREADY_SEATED),
    Case("invite seated user, no seat", lambda: chat8(a=0), HOST, InviteToSeat(R, "a"),
         E.ALREADY_SEATED),
    Case("invite seated user to own seat", lambda: chat8(a=0), HOST,
         InviteToSeat(R, "a", 0), E.ALREADY_SEATED),
    Case("answer without invite", build, "a", AnswerInvite(R, True), E.NO_SUCH_REQUEST),
    Case("decline without invite", build, "a", AnswerInvite(R, False), E.NO_SUCH_REQUEST),
    Case("answer: invited seat taken since", lambda: sit(invited("a", 0), "b", 0), "a",
         AnswerInvite(R, True), E.SEAT_TAKEN),
    Case("answer: invited seat locked since", lambda: step(invited("a", 0), HOST,
                                                           LockSeat(R, 0)),
         "a", AnswerInvite(R, True), E.SEAT_LOCKED),
    Case("answer: any seat, all full", lambda: sit(invited("a", None), "b", 0), "a",
         AnswerInvite(R, True), E.SEATS_FULL),
    Case("taking a seat spends the invite", lambda: step(invited("adm", None, chatroom=True),
                                                    "adm", TakeSeat(R, 3)),
         "adm", AnswerInvite(R, True), E.NO_SUCH_REQUEST),
    # kick_seat / lock / unlock / mute / unmute seats
    Case("kick seat by audience", lambda: build(seated={"a": 0}), "b", KickSeat(R, 0),
         E.FORBIDDEN),
    Case("kick empty seat", build, HOST, KickSeat(R, 0), E.NOT_SEATED),
    Case("kick no such seat", build, HOST, KickSeat(R, 1), E.NO_SUCH_SEAT),
    Case("lock by audience", build, "a", LockSeat(R, 0), E.FORBIDDEN),
    Case("lock no such seat", build, HOST, LockSeat(R, 1), E.NO_SUCH_SEAT),
    Case("unlock by audience", build, "a", UnlockSeat(R, 0), E.FORBIDDEN),
    Case("unlock no such seat", build, "adm", UnlockSeat(R, -1), E.NO_SUCH_SEAT),
    Case("mute seat by audience", build, "a", MuteSeat(R, 0), E.FORBIDDEN),
    Case("mute no such seat", build, HOST, MuteSeat(R, 3), E.NO_SUCH_SEAT),
    Case("unmute seat by audience", build, "a", UnmuteSeat(R, 0), E.FORBIDDEN),
    Case("unmute no such seat", build, HOST, UnmuteSeat(R, 3), E.NO_SUCH_SEAT),
    Case("seat op stranger", build, "x", MuteSeat(R, 0), E.NOT_IN_ROOM),
    # mute / unmute (self)
    Case("mute unseated", build, "a", Mute(R), E.NOT_SEATED),
    Case("mute unseated admin", build, "adm", Mute(R), E.NOT_SEATED),
    Case("unmute unseated", build, "a", Unmute(R), E.NOT_SEATED),
    Case("mute stranger", build, "x", Mute(R), E.NOT_IN_ROOM),
    # kick_member / set_admin
    Case("kick member by audience", build, "a", KickMember(R, "b"), E.FORBIDDEN),
    Case("kick non-member", build, HOST, KickMember(R, "x"), E.NOT_IN_ROOM),
    Case("kick the host", build, "adm", KickMember(R, HOST), E.FORBIDDEN),
    Case("host kicks self", build, HOST, KickMember(R, HOST, ban=True), E.FORBIDDEN),
    Case("admin kicks admin", lambda: build(admins=("adm", "adm2")), "adm",
         KickMember(R, "adm2"), E.FORBIDDEN),
    Case("admin bans admin", lambda: build(admins=("adm", "adm2")), "adm",
         KickMember(R, "adm2", ban=True), E.FORBIDDEN),
    Case("set_admin by admin", build, "adm", SetAdmin(R, "a", True), E.FORBIDDEN),
    Case("set_admin by audience", build, "a", SetAdmin(R, "b", True), E.FORBIDDEN),
    Case("set_admin non-member", build, HOST, SetAdmin(R, "x", True), E.NOT_IN_ROOM),
    Case("set_admin host", build, HOST, SetAdmin(R, HOST, False), E.FORBIDDEN),
    # chat
    Case("chat stranger", build, "x", Chat(R, "hi"), E.NOT_IN_ROOM),
    Case("chat banned", banned_x, "x", Chat(R, "hi"), E.BANNED),
    Case("chat empty", build, "a", Chat(R, ""), E.BAD_REQUEST),
    Case("chat too long", build, "a", Chat(R, "x" * 501), E.BAD_REQUEST),
    Case("bad_request beats not_in_room", build, "x", Chat(R, ""), E.BAD_REQUEST),
]


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_refusal(case: Case) -> None:
    assert refused(case.setup(), case.user, case.cmd) == case.code


def test_names_are_unique() -> None:
    assert len({case.name for case in CASES}) == len(CASES)


def test_join_room_full(monkeypatch: pytest.MonkeyPatch) -> None:
    room = build(audience=("a", "b"), admins=())
    monkeypatch.setattr(machine, "MAX_MEMBERS", 3)
    assert refused(room, "x", JoinRoom(R)) == E.ROOM_FULL
    # A member re-joining is not a new member: still fine at the bound.
    step(room, "a", JoinRoom(R))


def test_queue_full(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(machine, "MAX_QUEUE", 2)
    room = queued("a", "b")
    assert refused(room, "c", RequestMic(R)) == E.ROOM_FULL
    # already_requested comes before the queue bound
    assert refused(room, "a", RequestMic(R)) == E.ALREADY_REQUESTED


def test_queue_bound_is_named() -> None:
    assert machine.MAX_QUEUE == 200
    assert machine.MAX_MEMBERS == 10_000


def test_unknown_command() -> None:
    assert refused(build(), HOST, object()) == E.BAD_REQUEST


def test_member_bound_at_its_real_size() -> None:
    room = build(audience=(), admins=())
    for i in range(machine.MAX_MEMBERS - 1):
        room.members[f"m{i}"] = Member(f"m{i}", f"M{i}", Role.AUDIENCE)
    assert len(room.members) == machine.MAX_MEMBERS
    assert refused(room, "late", JoinRoom(R)) == E.ROOM_FULL
    out = step(room, "m7", LeaveRoom(R))
    assert step(out, "late", JoinRoom(R)).audience_count == machine.MAX_MEMBERS - 1


def test_queue_bound_at_its_real_size() -> None:
    users = [f"q{i}" for i in range(machine.MAX_QUEUE + 1)]
    room = build(audience=users, admins=())
    for user in users[:-1]:
        room = step(room, user, RequestMic(R))
    assert len(room.queue) == machine.MAX_QUEUE
    assert refused(room, users[-1], RequestMic(R)) == E.ROOM_FULL
    room = step(room, users[0], CancelMicRequest(R))
    assert step(room, users[-1], RequestMic(R)).queue_position(users[-1]) == machine.MAX_QUEUE


def test_every_room_command_has_a_handler() -> None:
    gateway_own = {Hello, ListRooms, CreateRoom, WebrtcOffer}
    assert set(REQUEST_TYPES.values()) - gateway_own == machine.ROOM_COMMANDS - {
        machine.Disconnect, machine.Expire}
