"""rooms.recording: the host starts and stops, the state and events every member sees, the
refusals in the protocol's order, a failure told once (docs/protocol.md "Recording")."""

from __future__ import annotations

import pytest

from protocol.errors import ErrorCode
from protocol.schema import CreateRoom, JoinRoom, KickMember
from rooms.events import EventType
from rooms.machine import Actor, apply, create_room
from rooms.model import Room
from rooms.recording import recording_failed, start_recording, stop_recording
from rooms.values import RoomError

HOST, GUEST = Actor("host", "Host"), Actor("guest", "Guest")


def room() -> Room:
    r = create_room("r1", HOST, CreateRoom("t"), 0.0).room
    assert r is not None
    r = apply(r, GUEST, JoinRoom("r1"), 1.0).room
    assert r is not None
    return r


def test_start_and_stop() -> None:
    r = room()
    out = start_recording(r, HOST, "r1-a", 10.0)
    assert out.reply == {"recording": {"id": "r1-a", "started_at": 10.0}}
    assert out.room is not None and out.room.version == r.version + 1
    assert [(e.type, e.data, e.to) for e in out.events] == [
        (EventType.RECORDING_CHANGED, {"active": True, "by": "host"}, None)]
    assert out.room.state_for("guest")["recording"] == {"id": "r1-a", "started_at": 10.0,
                                                        "by": "host"}
    assert Room.from_dict(out.room.to_dict()).recording == out.room.recording
    assert r.recording is None  # the old room is untouched
    again = start_recording(out.room, HOST, "r1-b", 11.0)
    assert again.reply == out.reply and not again.events
    assert again.room is not None and again.room.version == out.room.version
    stopped = stop_recording(out.room, HOST, 14.5)
    assert stopped.reply == {"recording": {"id": "r1-a", "seconds": 4.5}}
    assert stopped.room is not None and stopped.room.recording is None
    assert "recording" not in stopped.room.state_for("host")
    assert stopped.events[0].data == {"active": False, "by": "host"}
    with pytest.raises(RoomError) as err:
        stop_recording(stopped.room, HOST, 15.0)
    assert err.value.code is ErrorCode.WRONG_MODE


@pytest.mark.parametrize(("who", "code"), [("guest", ErrorCode.FORBIDDEN),
                                           ("stranger", ErrorCode.NOT_IN_ROOM),
                                           ("banned", ErrorCode.BANNED)])
def test_only_the_host(who: str, code: ErrorCode) -> None:
    r = room()
    r = apply(r, HOST, KickMember("r1", "banned", ban=True), 2.0).room
    assert r is not None
    actor = Actor(who, who)
    for step in (lambda: start_recording(r, actor, "x", 3.0),
                 lambda: stop_recording(r, actor, 3.0)):
        with pytest.raises(RoomError) as err:
            step()
        assert err.value.code is code


def test_a_failure_is_told_once_and_only_for_its_recording() -> None:
    r = start_recording(room(), HOST, "r1-a", 10.0).room
    assert r is not None
    other = recording_failed(r, "r1-old", "disk_full", "full", 12.0)
    assert not other.events and other.room is not None and other.room.recording is not None
    out = recording_failed(r, "r1-a", "disk_full", "full", 12.0)
    assert out.room is not None and out.room.recording is None
    changed, error = out.events
    assert changed.data == {"active": False, "by": None} and changed.to is None
    assert error.type is EventType.RECORDING_ERROR and error.to == frozenset({"host"})
    assert error.data == {"id": "r1-a", "reason": "disk_full", "message": "full"}
    assert not recording_failed(out.room, "r1-a", "disk_full", "full", 13.0).events
