"""rooms.delta: a commit's change to a room, small for a big room, applied to the old room
gives the new one (the stateful machine test checks the same after every random step)."""

from __future__ import annotations

import msgpack

from protocol.schema import JoinRoom, KickMember, LeaveRoom
from rooms.delta import apply_delta, room_delta
from rooms.model import Room
from rooms.propstate import RoomProps
from tests.rooms.roomkit import RID, build, sit, step


def roundtrip(old: Room, new: Room) -> Room:
    delta = room_delta(old, new)
    assert delta is not None
    copy = apply_delta(old, delta)
    copy.banned = set(new.banned)  # carried beside the delta by the store
    assert copy.to_dict() == new.to_dict()
    return copy


def test_a_change_to_a_big_room_is_small() -> None:
    room = build(audience=[f"listener{i:04d}" for i in range(2000)], chatroom=True)
    joined = step(room, "late", JoinRoom(RID))
    left = step(joined, "listener0100", LeaveRoom(RID))
    seated = sit(left, "listener0200", 3)
    kicked = step(seated, "host", KickMember(RID, "listener0300", ban=True))
    for old, new in ((room, joined), (joined, left), (left, seated), (seated, kicked)):
        delta = room_delta(old, new)
        assert delta is not None
        assert len(pack(delta)) < 1000 < 50 * 1000 < len(pack(new.to_dict()))
        roundtrip(old, new)
    assert list(roundtrip(joined, left).members)[-1] == "late"  # join order kept
    assert room_delta(room, joined) == {"f": {"version": joined.version},
                                        "m": {"late": ["late", "Late", "audience", None]}}
    assert room_delta(joined, left)["m"] == {"listener0100": None}  # type: ignore[index]


def test_fields_that_go_away_and_members_that_move() -> None:
    room = build()
    with_props = room.copy()
    with_props.props = RoomProps().with_effect("host", "robot")
    with_props.version += 1
    back = with_props.copy()
    back.props = RoomProps()
    back.version += 1
    assert room_delta(with_props, back)["x"] == ["props"]  # type: ignore[index]
    assert apply_delta(with_props, room_delta(with_props, back) or {}).props.default
    roundtrip(room, with_props)

    moved = room.copy()
    member = moved.members.pop("a")
    moved.members["a"] = member  # same member, now last: no delta can say that
    assert room_delta(room, moved) is None


def pack(value: object) -> bytes:
    return msgpack.packb(value, use_bin_type=True)
