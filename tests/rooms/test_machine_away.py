"""Reconnection: Disconnect marks a member away, join_room takes them back, Expire ends it."""

from __future__ import annotations

import pytest

from protocol.errors import ErrorCode as E
from protocol.schema import AcceptMic, JoinRoom, RequestMic, SetAdmin, SwitchSeat
from rooms.machine import SYSTEM, Disconnect, Event, Expire, apply
from tests.rooms.roomkit import HOST, NOW, RID, build, check_invariants, kinds, ok, refused, step

R = RID
GRACE, HOST_GRACE = 15.0, 60.0
DROP = Disconnect(R, GRACE, HOST_GRACE)
MODS = frozenset({HOST, "adm"})


def test_seated_member_drops_and_returns() -> None:
    room = build(chatroom=True, seated={"a": 2})
    out = ok(room, "a", DROP)
    away = out.room
    assert away is not None and out.reply == {}
    assert away.members["a"].away_until == NOW + GRACE
    assert away.seats[2].away and away.seats[2].user == "a"
    assert away.next_deadline() == NOW + GRACE
    assert out.events == [Event("seat_changed", {"seat": away.seats[2].to_wire()})]
    check_invariants(away)
    # dropping again (a second connection) keeps the first deadline
    again = ok(away, "a", DROP, now=NOW + 5)
    assert again.events == [] and again.room is not None
    assert again.room.members["a"].away_until == NOW + GRACE
    assert again.room.version == away.version
    # back within the grace: the seat is theirs again
    out = ok(away, "a", JoinRoom(R), now=NOW + 10)
    back = out.room
    assert back is not None and not back.seats[2].away
    assert back.members["a"].away_until is None and back.next_deadline() is None
    assert kinds(out.events) == ["seat_changed", "_joined"]
    assert out.reply["room"]["seats"][2]["away"] is False


def test_away_seat_moves_with_switch() -> None:
    room = step(build(chatroom=True, seated={"a": 2}), "a", DROP)
    room = step(room, "a", SwitchSeat(R, 4))
    assert room.seats[4].away and not room.seats[2].away
    check_invariants(room)


def test_expire_frees_seat_and_request() -> None:
    room = build(chatroom=True, seated={"a": 2})
    room = step(room, "b", RequestMic(R))
    room = step(room, "a", DROP)
    room = step(room, "b", DROP, now=NOW + 1)
    assert room.queue_position("b") == 1  # the request stays during the grace
    early = ok(room, "", Expire(R), now=NOW + GRACE - 0.1)
    assert early.events == [] and early.room is not None
    assert early.room.version == room.version
    out = apply(room, SYSTEM, Expire(R), NOW + GRACE)
    new = out.room
    assert new is not None
    assert "a" not in new.members and "b" in new.members
    assert new.seats[2].user is None
    assert kinds(out.events) == ["seat_changed", "member_left", "audience_changed", "_gone"]
    assert new.next_deadline() == NOW + 1 + GRACE
    out = apply(new, SYSTEM, Expire(R), NOW + 100)
    assert out.room is not None and "b" not in out.room.members and out.room.queue == []
    assert kinds(out.events) == ["mic_request_cancelled", "member_left", "audience_changed",
                                 "_gone"]
    assert out.events[0].to == MODS
    check_invariants(out.room)


def test_expire_several_at_once_in_deadline_order() -> None:
    room = build()
    room = step(room, "c", DROP, now=NOW + 2)
    room = step(room, "a", DROP, now=NOW)
    out = apply(room, SYSTEM, Expire(R), NOW + 50)
    gone = [e.data["user"] for e in out.events if e.type == "_gone"]
    assert gone == ["a", "c"]
    assert out.events[-1].type == "_gone"
    counts = [e.data["count"] for e in out.events if e.type == "audience_changed"]
    assert counts == [room.audience_count - 1, room.audience_count - 2]


def test_host_drop_and_return() -> None:
    room = build()
    out = ok(room, HOST, DROP)
    away = out.room
    assert away is not None
    assert away.host_away_until == NOW + HOST_GRACE and away.host_away
    assert away.state_for("a")["host"]["away"] is True
    assert out.events == [Event("room_state")]
    # the room runs on while the host is away
    assert ok(away, "a", RequestMic(R)).room is not None
    out = ok(away, HOST, JoinRoom(R), now=NOW + 30)
    assert out.room is not None and not out.room.host_away
    assert kinds(out.events) == ["room_state", "_joined"]
    assert out.reply["role"] == "host"


def test_host_grace_over_closes_room() -> None:
    room = step(step(build(), HOST, DROP), "a", DROP)
    out = apply(room, SYSTEM, Expire(R), NOW + GRACE)
    assert out.room is not None and "a" not in out.room.members
    out = apply(out.room, SYSTEM, Expire(R), NOW + HOST_GRACE)
    assert out.room is None
    assert out.events == [Event("room_closed", {"reason": "host_left"})]


def test_disconnect_of_non_member_is_refused() -> None:
    assert refused(build(), "x", DROP) is E.NOT_IN_ROOM


def test_accepting_an_away_requester_marks_the_seat_away() -> None:
    room = step(step(build(), "a", RequestMic(R)), "a", DROP)
    room = step(room, HOST, AcceptMic(R, "a"))
    assert room.seats[0].away
    check_invariants(room)


@pytest.mark.parametrize("user", ["adm", "b"])
def test_away_member_keeps_role(user: str) -> None:
    room = step(build(), user, DROP)
    room = step(room, HOST, SetAdmin(R, user, True))
    assert room.members[user].away_until == NOW + GRACE
    assert room.admins >= {user}
