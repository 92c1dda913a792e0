"""Wire builders: the shapes PROTOCOL.md fixes for replies and events."""

from __future__ import annotations

from protocol.codec import decode, encode
from protocol.errors import ErrorCode, ProtocolError
from protocol.messages import call_event, error, error_from, event, ok, personal_event
from protocol.validate import RequestError


def test_ok_reply() -> None:
    assert ok(3) == {"id": 3, "type": "ok"}
    reply = ok(4, seat=2, room={"id": "r"})
    assert reply == {"id": 4, "type": "ok", "seat": 2, "room": {"id": "r"}}


def test_ok_fields_cannot_override_type() -> None:
    assert ok(5, **{"type": "x"}) == {"id": 5, "type": "ok"}


def test_error_reply_with_and_without_id() -> None:
    assert error(6, ErrorCode.SEAT_TAKEN, "seat 2 is taken") == {
        "id": 6,
        "type": "error",
        "code": "seat_taken",
        "message": "seat 2 is taken",
    }
    no_id = error(None, ErrorCode.BAD_FRAME, "bad frame")
    assert "id" not in no_id
    assert no_id["code"] == "bad_frame"
    assert type(no_id["code"]) is str  # plain str survives any encoder


def test_error_from_exceptions() -> None:
    assert error_from(ProtocolError(ErrorCode.FORBIDDEN, "no"), 7)["id"] == 7
    # A RequestError without a valid id must produce a reply without id.
    req = RequestError(ErrorCode.BAD_REQUEST, "field 'id' ...", id=None)
    assert "id" not in error_from(req, 8)
    assert error_from(RequestError(ErrorCode.UNKNOWN_TYPE, "?", id=9))["id"] == 9


def test_event() -> None:
    ev = event("seat_changed", "r1", seat={"index": 0, "user": None})
    assert ev == {"type": "seat_changed", "room": "r1", "seat": {"index": 0, "user": None}}
    assert "id" not in ev
    assert decode(encode(ev, True)) == ev


def test_call_event_carries_the_state_or_the_id() -> None:
    state = {"id": "c1", "state": "ringing"}
    ev = call_event("call_incoming", state)
    assert ev == {"type": "call_incoming", "call": state}
    assert "room" not in ev and "id" not in ev
    ev = call_event("game_event", "c1", user="u", game="dice")
    assert ev == {"type": "game_event", "call": "c1", "user": "u", "game": "dice"}
    assert decode(encode(ev, False)) == ev


def test_personal_event_has_no_room_or_call() -> None:
    ev = personal_event("followed", user="ann", name="Ann", mutual=True)
    assert ev == {"type": "followed", "user": "ann", "name": "Ann", "mutual": True}
