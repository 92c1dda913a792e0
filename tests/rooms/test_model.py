"""The room model: storage round trip, wire views, speakers, deadlines."""

from __future__ import annotations

import json

import msgpack

from protocol.schema import InviteToSeat, KickMember, LockSeat, Mute, MuteSeat, RequestMic
from rooms.machine import Disconnect
from rooms.model import Room
from tests.rooms.roomkit import HOST, NOW, RID, build, step

R = RID


def busy_room() -> Room:
    room = build(chatroom=True, seats=6, seated={"a": 1, "b": 4})
    room = step(room, "c", RequestMic(R, "hi there"))
    room = step(room, HOST, InviteToSeat(R, "d", 5))
    room = step(room, HOST, InviteToSeat(R, "adm"))
    room = step(room, HOST, KickMember(R, "x", ban=True))
    room = step(room, HOST, LockSeat(R, 2))
    room = step(room, HOST, MuteSeat(R, 4))
    room = step(room, "a", Mute(R))
    room = step(room, HOST, Mute(R))
    return step(room, "b", Disconnect(R, 15.0, 60.0), now=NOW + 3)


def test_round_trip_through_msgpack_and_json() -> None:
    room = busy_room()
    data = room.to_dict()
    packed = msgpack.unpackb(msgpack.packb(data), raw=False)
    assert Room.from_dict(packed) == room
    assert Room.from_dict(packed).to_dict() == data
    assert Room.from_dict(json.loads(json.dumps(data))) == room


def test_copy_is_independent() -> None:
    room = busy_room()
    before = room.to_dict()
    copy = room.copy()
    copy.seats[1].user = None
    copy.members.pop("c")
    copy.queue.clear()
    copy.invites.clear()
    copy.admins.add("zz")
    copy.banned.clear()
    assert room.to_dict() == before


def test_speakers() -> None:
    room = busy_room()
    # host self-muted; a self-muted; b's seat muted (b away changes nothing)
    assert room.speakers() == set()
    unmuted = build(chatroom=True, seated={"a": 1, "b": 4})
    unmuted = step(unmuted, "b", Disconnect(R, 15.0, 60.0))
    assert unmuted.speakers() == {HOST, "a", "b"}


def test_summary_and_state() -> None:
    room = busy_room()
    assert room.summary() == {
        "id": R,
        "title": "Room",
        "host": {"user": HOST, "name": "Host"},
        "mode": "chatroom",
        "audience_count": 5,
        "seated": 2,
    }
    state = room.state_for("adm")
    assert state["queue"] == [{"user": "c", "name": "C", "at": NOW, "note": "hi there"}]
    assert [s["locked"] for s in state["seats"]] == [False, False, True, False, False, False]
    assert state["seats"][4] == {"index": 4, "user": "b", "name": "B", "muted": True,
                                 "self_muted": False, "locked": False, "away": True}
    assert state["host"] == {"user": HOST, "name": "Host", "self_muted": True, "away": False}
    assert "queue" not in room.state_for("c")
    assert "queue" not in room.state_for(None)
    assert "queue" not in room.state_for("stranger")


def test_next_deadline_includes_host() -> None:
    room = build()
    assert room.next_deadline() is None
    room = step(room, HOST, Disconnect(R, 15.0, 60.0))
    assert room.next_deadline() == NOW + 60.0
    room = step(room, "a", Disconnect(R, 15.0, 60.0), now=NOW + 10)
    assert room.next_deadline() == NOW + 25.0
