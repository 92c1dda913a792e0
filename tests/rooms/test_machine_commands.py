"""Every room command's success: the reply, the new state and the events with recipients."""

from __future__ import annotations

import pytest

from protocol.errors import ErrorCode as E
from protocol.schema import (
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
from rooms.machine import Event, RoomError, check_offer, create_room
from tests.rooms.roomkit import (
    HOST,
    NOW,
    RID,
    actor,
    build,
    check_invariants,
    kinds,
    new_room,
    ok,
    refused,
    sit,
    step,
)

R = RID
MODS = frozenset({HOST, "adm"})


def test_create_room() -> None:
    outcome = create_room("x1", actor("h"), CreateRoom("My live", 5, SeatMode.FREE, 2), NOW)
    room = outcome.room
    assert room is not None
    assert room.version == 1 and room.created_at == NOW
    assert outcome.reply == {"room": room.state_for("h")}
    state = outcome.reply["room"]
    assert state == {
        "id": "x1",
        "title": "My live",
        "host": {"user": "h", "name": "H", "self_muted": False, "away": False},
        "mode": "live",
        "seats": [{"index": 0, "user": None, "name": None, "muted": False,
                   "self_muted": False, "locked": False, "away": False}],
        "audience_count": 0,
        "queue_length": 0,
        "admins": [],
        "seat_mode": "free",
        "auto_chatroom_at": 2,
        "queue": [],
    }
    assert room.role_of("h") is Role.HOST and room.seat_count == 5
    assert outcome.events == [Event("_joined", {"user": "h", "conn": "conn-h"})]


@pytest.mark.parametrize(
    ("cmd", "field"),
    [
        (CreateRoom(""), "title"),
        (CreateRoom("t" * 65), "title"),
        (CreateRoom("t", seats=0), "seats"),
        (CreateRoom("t", seats=9), "seats"),
        (CreateRoom("t", auto_chatroom_at=-1), "auto_chatroom_at"),
    ],
)
def test_create_room_bounds(cmd: CreateRoom, field: str) -> None:
    with pytest.raises(RoomError) as info:
        create_room("x", actor("h"), cmd, NOW)
    assert info.value.code is E.BAD_REQUEST and info.value.field == field


def test_join_and_rejoin() -> None:
    room = build(audience=("a",))
    out = ok(room, "b", JoinRoom(R))
    assert out.reply == {"room": out.room.state_for("b"), "role": "audience"}  # type: ignore[union-attr]
    assert "queue" not in out.reply["room"]
    assert out.reply["room"]["audience_count"] == 3
    assert out.events == [
        Event("member_joined", {"user": "b", "name": "B", "role": "audience"}, MODS),
        Event("audience_changed", {"count": 3, "queue": 0}),
        Event("_joined", {"user": "b", "conn": "conn-b"}),
    ]
    assert out.room is not None and out.room.version == room.version + 1
    # Joining again re-reads the room and changes nothing but announces the connection.
    again = ok(out.room, "b", JoinRoom(R))
    assert again.room is not None and again.room.to_dict() == out.room.to_dict()
    assert again.events == [Event("_joined", {"user": "b", "conn": "conn-b"})]
    # The host and admins see the queue in their state.
    assert "queue" in ok(out.room, "adm", JoinRoom(R)).reply["room"]
    assert ok(out.room, "adm", JoinRoom(R)).reply["role"] == "admin"


def test_leave_room_frees_seat_queue_invite() -> None:
    room = build(chatroom=True, seated={"a": 2})
    room = step(room, "b", RequestMic(R))
    room = step(room, HOST, SetAdmin(R, "a", True))
    out = ok(room, "a", LeaveRoom(R))
    assert out.reply == {}
    new = out.room
    assert new is not None and "a" not in new.members and "a" not in new.admins
    assert new.seats[2].user is None
    assert kinds(out.events) == ["seat_changed", "member_left", "audience_changed", "_gone"]
    assert out.events[1].to == MODS  # "a" is no longer an admin: not told
    assert out.events[2].data == {"count": new.audience_count, "queue": 1}
    assert out.events[3].data == {"user": "a"}
    # a queued user leaving: the request goes, host and admins are told
    out = ok(new, "b", LeaveRoom(R))
    assert kinds(out.events) == ["mic_request_cancelled", "member_left", "audience_changed",
                                 "_gone"]
    assert out.room is not None and out.room.queue == []


def test_host_leaving_closes() -> None:
    out = ok(build(), HOST, LeaveRoom(R))
    assert out.room is None and out.reply == {}
    assert out.events == [Event("room_closed", {"reason": "host_left"})]


def test_close_room() -> None:
    out = ok(build(seated={"a": 0}), HOST, CloseRoom(R))
    assert out.room is None
    assert out.events == [Event("room_closed", {"reason": "closed"})]


def test_request_and_cancel_mic() -> None:
    room = build()
    out = ok(room, "a", RequestMic(R, "let me sing"))
    assert out.reply == {"position": 1}
    assert out.events == [
        Event("mic_requested", {"user": "a", "name": "A", "position": 1, "note": "let me sing"},
              MODS),
        # Listeners are not sent the queue, but how long it is.
        Event("audience_changed", {"count": room.audience_count, "queue": 1}),
    ]
    room = out.room  # type: ignore[assignment]
    out = ok(room, "b", RequestMic(R), now=NOW + 1)
    assert out.reply == {"position": 2}
    assert out.room is not None
    assert out.room.state_for(HOST)["queue"] == [
        {"user": "a", "name": "A", "at": NOW, "note": "let me sing"},
        {"user": "b", "name": "B", "at": NOW + 1, "note": ""},
    ]
    assert "queue" not in out.room.state_for("a")
    out = ok(out.room, "a", CancelMicRequest(R))
    assert out.reply == {}
    assert out.events == [Event("mic_request_cancelled", {"user": "a"}, MODS),
                          Event("audience_changed", {"count": room.audience_count, "queue": 1})]
    assert out.room is not None and [r.user for r in out.room.queue] == ["b"]
    assert out.room.queue_position("b") == 1


def test_auto_chatroom() -> None:
    room = build(auto_chatroom_at=3, seated={"d": 0})
    room = step(room, HOST, Mute(R))
    room = step(room, "d", Mute(R))
    room = step(room, "a", RequestMic(R))
    room = step(room, "b", RequestMic(R))
    assert room.mode is Mode.LIVE
    out = ok(room, "c", RequestMic(R))
    assert kinds(out.events) == ["mic_requested", "mode_changed", "audience_changed"]
    new = out.room
    assert new is not None and new.mode is Mode.CHATROOM and len(new.seats) == 8
    assert out.events[1] == Event(
        "mode_changed", {"mode": "chatroom", "seats": new.seats_wire(), "auto": True})
    # the live guest keeps seat 0 with its flags; the queue stays
    assert new.seats[0].user == "d" and new.seats[0].self_muted
    assert [r.user for r in new.queue] == ["a", "b", "c"]


def test_auto_chatroom_off_and_only_in_live() -> None:
    room = build(auto_chatroom_at=0)
    for user in "abcd":
        room = step(room, user, RequestMic(R))
    assert room.mode is Mode.LIVE
    room = build(auto_chatroom_at=1, chatroom=True)
    out = ok(room, "a", RequestMic(R))
    assert kinds(out.events) == ["mic_requested", "audience_changed"]


def test_accept_mic() -> None:
    room = build(chatroom=True, seated={"b": 0})
    room = step(room, "a", RequestMic(R))
    room = step(room, HOST, InviteToSeat(R, "a", 5))
    out = ok(room, "adm", AcceptMic(R, "a"))
    assert out.reply == {"seat": 1}  # the first free unlocked seat
    new = out.room
    assert new is not None
    assert out.events == [
        Event("mic_accepted", {"seat": 1}, frozenset({"a"})),
        Event("seat_changed", {"seat": new.seats[1].to_wire()}),
        Event("mic_request_cancelled", {"user": "a"}, MODS),
        Event("audience_changed", {"count": new.audience_count, "queue": 0}),
    ]
    assert new.seats[1].user == "a" and new.seats[1].name == "A"
    assert new.queue == [] and "a" not in new.invites
    # named seat; locked seats are skipped when none is named
    room = step(step(new, "c", RequestMic(R)), HOST, LockSeat(R, 2))
    assert ok(room, HOST, AcceptMic(R, "c")).reply == {"seat": 3}
    assert ok(room, HOST, AcceptMic(R, "c", 7)).reply == {"seat": 7}


def test_accept_keeps_seat_muted_flag() -> None:
    room = step(build(), HOST, MuteSeat(R, 0))
    room = step(room, "a", RequestMic(R))
    room = step(room, HOST, AcceptMic(R, "a", 0))
    assert room.seats[0].muted and room.seats[0].user == "a"
    assert "a" not in room.speakers()


def test_reject_mic() -> None:
    room = step(step(build(), "a", RequestMic(R)), "b", RequestMic(R))
    out = ok(room, "adm", RejectMic(R, "a"))
    assert out.reply == {}
    assert out.events == [
        Event("mic_rejected", {}, frozenset({"a"})),
        Event("mic_request_cancelled", {"user": "a"}, MODS),
        Event("audience_changed", {"count": room.audience_count, "queue": 1}),
    ]
    assert out.room is not None and [r.user for r in out.room.queue] == ["b"]


def test_open_and_close_chatroom() -> None:
    room = build(seats=4, seated={"a": 0})
    room = step(room, HOST, MuteSeat(R, 0))
    room = step(room, "a", Mute(R))
    out = ok(room, HOST, OpenChatroom(R))
    new = out.room
    assert new is not None and new.mode is Mode.CHATROOM
    assert out.reply == {"room": new.state_for(HOST)}
    assert [s.index for s in new.seats] == [0, 1, 2, 3]
    assert new.seats[0].user == "a" and new.seats[0].muted and new.seats[0].self_muted
    assert out.events == [
        Event("mode_changed", {"mode": "chatroom", "seats": new.seats_wire(), "auto": False})]
    room = sit(sit(new, "b", 2), "c", 3)
    room = step(room, HOST, InviteToSeat(R, "d", 1))
    room = step(room, HOST, InviteToSeat(R, "adm"))
    room = step(room, HOST, LockSeat(R, 1))
    out = ok(room, HOST, CloseChatroom(R))
    new = out.room
    assert new is not None and new.mode is Mode.LIVE
    assert new.seated_users() == {}
    # seat 0 keeps its own flags (muted), its occupant's self_muted goes with them
    assert new.seats_wire() == [{"index": 0, "user": None, "name": None, "muted": True,
                                 "self_muted": False, "locked": False, "away": False}]
    assert out.events == [
        Event("mode_changed", {"mode": "live", "seats": new.seats_wire(), "auto": False})]
    assert out.reply == {"room": new.state_for(HOST)}
    # invites to seats that no longer exist are dropped; open ones stay
    assert new.invites == {"adm": None}
    check_invariants(new)


def test_take_seat_free_mode() -> None:
    room = build(seat_mode=SeatMode.FREE, chatroom=True)
    room = step(room, "a", RequestMic(R))
    out = ok(room, "a", TakeSeat(R, 4))
    assert out.reply == {"seat": 4}
    new = out.room
    assert new is not None
    assert out.events == [
        Event("seat_changed", {"seat": new.seats[4].to_wire()}),
        Event("mic_request_cancelled", {"user": "a"}, MODS),
        Event("audience_changed", {"count": new.audience_count, "queue": 0}),
    ]


def test_take_seat_apply_mode() -> None:
    room = build(chatroom=True)
    # admins may take a seat in apply mode
    assert ok(room, "adm", TakeSeat(R, 6)).reply == {"seat": 6}
    # an invite to a named seat allows that seat; an invite to no seat allows any
    room = step(room, HOST, InviteToSeat(R, "a", 2))
    room = step(room, HOST, InviteToSeat(R, "b"))
    out = ok(room, "a", TakeSeat(R, 2))
    assert out.room is not None and "a" not in out.room.invites
    assert ok(out.room, "b", TakeSeat(R, 7)).reply == {"seat": 7}


def test_leave_seat_clears_self_mute_keeps_muted() -> None:
    room = build(seated={"a": 0})
    room = step(step(room, "a", Mute(R)), HOST, MuteSeat(R, 0))
    out = ok(room, "a", LeaveSeat(R))
    new = out.room
    assert new is not None and out.reply == {}
    assert new.seats[0].to_wire() == {"index": 0, "user": None, "name": None, "muted": True,
                                      "self_muted": False, "locked": False, "away": False}
    assert out.events == [Event("seat_changed", {"seat": new.seats[0].to_wire()})]


def test_switch_seat() -> None:
    room = build(chatroom=True, seated={"a": 1})
    room = step(step(room, "a", Mute(R)), HOST, MuteSeat(R, 1))
    out = ok(room, "a", SwitchSeat(R, 5))
    new = out.room
    assert new is not None and out.reply == {"seat": 5}
    assert new.seats[5].user == "a" and new.seats[5].self_muted and not new.seats[5].muted
    assert new.seats[1].user is None and new.seats[1].muted
    assert out.events == [
        Event("seat_changed", {"seat": new.seats[1].to_wire()}),
        Event("seat_changed", {"seat": new.seats[5].to_wire()}),
    ]
    same = ok(new, "a", SwitchSeat(R, 5))
    assert same.reply == {"seat": 5} and same.events == []
    assert same.room is not None and same.room.version == new.version


def test_invite_and_answer() -> None:
    room = build(chatroom=True)
    out = ok(room, "adm", InviteToSeat(R, "a", 3))
    assert out.reply == {}
    assert out.events == [
        Event("seat_invited", {"seat": 3, "by": "adm", "by_name": "Adm"}, frozenset({"a"}))]
    room = out.room  # type: ignore[assignment]
    assert room.invites == {"a": 3}
    # a re-invite replaces the first
    room = step(room, HOST, InviteToSeat(R, "a"))
    assert room.invites == {"a": None}
    out = ok(room, "a", AnswerInvite(R, True))
    assert out.reply == {"seat": 0}
    assert out.room is not None and out.room.invites == {}
    assert kinds(out.events) == ["seat_changed"]
    # declining clears the invite
    room = step(room, HOST, InviteToSeat(R, "b", 4))
    out = ok(room, "b", AnswerInvite(R, False))
    assert out.reply == {} and out.events == []
    assert out.room is not None and "b" not in out.room.invites
    # an admin may be invited too
    assert ok(room, HOST, InviteToSeat(R, "adm")).reply == {}


def test_kick_seat() -> None:
    room = step(build(seated={"a": 0}), "a", Mute(R))
    out = ok(room, "adm", KickSeat(R, 0))
    new = out.room
    assert new is not None and out.reply == {}
    assert new.seats[0].user is None and not new.seats[0].self_muted
    assert "a" in new.members
    assert out.events == [Event("seat_changed", {"seat": new.seats[0].to_wire()})]


def test_lock_seat_frees_occupant_and_is_idempotent() -> None:
    room = build(seated={"a": 0})
    out = ok(room, HOST, LockSeat(R, 0))
    new = out.room
    assert new is not None
    assert new.seats[0].locked and new.seats[0].user is None
    assert out.events == [Event("seat_changed", {"seat": new.seats[0].to_wire()})]
    again = ok(new, HOST, LockSeat(R, 0))
    assert again.events == [] and again.reply == {}
    out = ok(new, "adm", UnlockSeat(R, 0))
    assert out.room is not None and not out.room.seats[0].locked
    assert kinds(out.events) == ["seat_changed"]
    assert ok(out.room, "adm", UnlockSeat(R, 0)).events == []


def test_mute_and_unmute_seat() -> None:
    room = build(seated={"a": 0})
    assert room.speakers() == {HOST, "a"}
    out = ok(room, "adm", MuteSeat(R, 0))
    assert out.room is not None and out.room.seats[0].muted
    assert out.room.speakers() == {HOST}
    assert out.events == [Event("seat_changed", {"seat": out.room.seats[0].to_wire()})]
    assert ok(out.room, HOST, MuteSeat(R, 0)).events == []
    # the occupant cannot clear a seat mute: their own unmute is self_muted only
    after = step(out.room, "a", Unmute(R))
    assert after.seats[0].muted
    back = ok(out.room, HOST, UnmuteSeat(R, 0))
    assert back.room is not None and not back.room.seats[0].muted
    assert back.room.speakers() == {HOST, "a"}
    # muting an empty seat is fine too
    assert ok(build(), HOST, MuteSeat(R, 0)).room.seats[0].muted  # type: ignore[union-attr]


def test_self_mute_seated() -> None:
    room = build(seated={"a": 0})
    out = ok(room, "a", Mute(R))
    new = out.room
    assert new is not None and new.seats[0].self_muted and "a" not in new.speakers()
    assert out.events == [Event("seat_changed", {"seat": new.seats[0].to_wire()})]
    assert ok(new, "a", Mute(R)).events == []
    out = ok(new, "a", Unmute(R))
    assert out.room is not None and not out.room.seats[0].self_muted


def test_self_mute_host() -> None:
    room = build()
    out = ok(room, HOST, Mute(R))
    new = out.room
    assert new is not None and new.host_self_muted and HOST not in new.speakers()
    assert new.state_for("a")["host"]["self_muted"] is True
    assert out.events == [Event("room_state")]
    assert out.events[0].wire(R) == {"type": "room_state", "room": R}
    out = ok(new, HOST, Unmute(R))
    assert out.room is not None and not out.room.host_self_muted
    assert kinds(out.events) == ["room_state"]


def test_kick_member() -> None:
    room = build(chatroom=True, seated={"a": 3})
    room = step(step(room, "b", RequestMic(R)), HOST, InviteToSeat(R, "b", 4))
    out = ok(room, "adm", KickMember(R, "a"))
    new = out.room
    assert new is not None and "a" not in new.members and new.seats[3].user is None
    assert out.reply == {} and "a" not in new.banned
    assert kinds(out.events) == ["kicked", "seat_changed", "member_left", "audience_changed",
                                 "_gone"]
    assert out.events[0] == Event("kicked", {"reason": "kicked"}, frozenset({"a"}))
    # kicked, not banned: may come back
    step(new, "a", JoinRoom(R))
    out = ok(new, HOST, KickMember(R, "b", ban=True))
    banned = out.room
    assert banned is not None and "b" in banned.banned and "b" not in banned.invites
    assert banned.queue == []
    assert kinds(out.events) == ["kicked", "mic_request_cancelled", "member_left",
                                 "audience_changed", "_gone"]
    assert out.events[0].data == {"reason": "banned"}
    assert refused(banned, "b", JoinRoom(R)) is E.BANNED


def test_ban_non_member_and_kick_admin_by_host() -> None:
    out = ok(build(), "adm", KickMember(R, "stranger", ban=True))
    assert out.room is not None and out.room.banned == {"stranger"} and out.events == []
    assert refused(out.room, "stranger", JoinRoom(R)) is E.BANNED
    out = ok(build(admins=("adm", "adm2")), HOST, KickMember(R, "adm2"))
    assert out.room is not None and out.room.admins == {"adm"}
    assert "adm2" not in out.events[1].to  # type: ignore[operator]


def test_set_admin() -> None:
    room = build(seated={"a": 0})
    out = ok(room, HOST, SetAdmin(R, "a", True))
    new = out.room
    assert new is not None and new.role_of("a") is Role.ADMIN and new.admins == {"adm", "a"}
    assert new.seats[0].user == "a"  # an admin may stay seated
    assert out.events == [Event("role_changed", {"user": "a", "role": "admin"})]
    assert new.state_for("x")["admins"] == ["a", "adm"]
    assert "queue" in new.state_for("a")
    assert ok(new, HOST, SetAdmin(R, "a", True)).events == []
    out = ok(new, HOST, SetAdmin(R, "a", False))
    assert out.room is not None and out.room.role_of("a") is Role.AUDIENCE
    assert out.events == [Event("role_changed", {"user": "a", "role": "audience"})]
    # the new admin may now moderate
    step(new, "a", LockSeat(R, 0))


def test_chat() -> None:
    room = build()
    out = ok(room, "a", Chat(R, "hello"))
    assert out.reply == {}
    assert out.events == [Event("chat_message", {"user": "a", "name": "A", "text": "hello"})]
    assert out.room is not None and out.room.version == room.version  # nothing changed
    assert out.events[0].wire(R) == {"type": "chat_message", "room": R, "user": "a",
                                     "name": "A", "text": "hello"}


def test_check_offer() -> None:
    room = step(build(), HOST, KickMember(R, "x", ban=True))
    check_offer(room, actor("a"))
    check_offer(room, actor(HOST))
    for user, code in [("x", E.BANNED), ("y", E.NOT_IN_ROOM)]:
        with pytest.raises(RoomError) as info:
            check_offer(room, actor(user))
        assert info.value.code is code
    with pytest.raises(RoomError) as info:
        check_offer(None, actor("a"))
    assert info.value.code is E.NO_SUCH_ROOM


def test_every_change_bumps_version_once() -> None:
    room = build()
    out = ok(room, "a", RequestMic(R))
    assert out.room is not None and out.room.version == room.version + 1


def test_new_room_seat_count_one_chatroom() -> None:
    room = step(new_room(seats=1), HOST, OpenChatroom(R))
    assert len(room.seats) == 1 and room.mode is Mode.CHATROOM
