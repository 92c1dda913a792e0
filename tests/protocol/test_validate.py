"""Request validation: every request type, every field, ids, types, unknown fields."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from protocol import schema
from protocol.errors import ErrorCode, ProtocolError
from protocol.schema import SeatMode
from protocol.validate import MAX_ID, RULES, RequestError, parse_request

# A minimal valid request of every type (required fields only).
MINIMAL: dict[str, dict[str, Any]] = {
    "hello": {},
    "create_room": {"title": "Evening talk"},
    "list_rooms": {},
    "join_room": {"room": "r1"},
    "leave_room": {"room": "r1"},
    "close_room": {"room": "r1"},
    "request_mic": {"room": "r1"},
    "cancel_mic_request": {"room": "r1"},
    "accept_mic": {"room": "r1", "user": "bob"},
    "reject_mic": {"room": "r1", "user": "bob"},
    "open_chatroom": {"room": "r1"},
    "close_chatroom": {"room": "r1"},
    "take_seat": {"room": "r1", "seat": 0},
    "leave_seat": {"room": "r1"},
    "switch_seat": {"room": "r1", "seat": 7},
    "invite_to_seat": {"room": "r1", "user": "bob"},
    "answer_invite": {"room": "r1", "accept": True},
    "kick_seat": {"room": "r1", "seat": 3},
    "lock_seat": {"room": "r1", "seat": 3},
    "unlock_seat": {"room": "r1", "seat": 3},
    "mute_seat": {"room": "r1", "seat": 3},
    "unmute_seat": {"room": "r1", "seat": 3},
    "mute": {"room": "r1"},
    "unmute": {"room": "r1"},
    "kick_member": {"room": "r1", "user": "bob"},
    "set_admin": {"room": "r1", "user": "bob", "admin": False},
    "chat": {"room": "r1", "text": "hi"},
    "webrtc_offer": {"room": "r1", "sdp": "v=0\r\n"},
}

# A valid value for every optional field.
OPTIONAL_VALUES: dict[str, Any] = {
    "token": "a.b.c",
    "user": "bob.smith-2_",
    "name": "Bob",
    "seats": 4,
    "seat_mode": "free",
    "auto_chatroom_at": 0,
    "limit": 100,
    "cursor": "opaque",
    "note": "let me sing",
    "seat": 0,
    "ban": True,
}

# Values each field must refuse.
BAD_VALUES: dict[str, list[Any]] = {
    "room": ["", "a" * 65, "has space", "dot.ted", "é", 5, None, True, ["r1"], {"r": 1}],
    "user": ["", "u" * 65, "with space", "slash/", "ü", 5, True, ["bob"]],
    "name": ["", "   ", "\x00\x07", "n" * 65, 5, False, ["x"], "\ud800"],
    "token": ["t" * 4097, 5, True, ["t"]],
    "title": ["", " \t ", "\x1b", "t" * 65, 1, True, ["t"]],
    "seats": [0, 9, -1, True, False, 4.0, "4", None],
    "seat_mode": ["", "APPLY", "open", 1, True, None],
    "auto_chatroom_at": [-1, 1001, True, 3.0, "3", None],
    "limit": [0, 101, -5, True, 10.0, "10", None],
    "cursor": ["c" * 129, 5, True, ["c"]],
    "note": ["n" * 141, 5, True, ["n"]],
    "seat": [-1, 8, 100, True, False, 0.0, "0", [0]],
    "accept": [0, 1, "true", None, "yes"],
    "admin": [0, 1, "false", None],
    "ban": [0, 1, "true"],
    "text": ["", "   \n\t ", "x" * 501, 5, True, None, ["hi"], "\udc80"],
    "sdp": ["", "s" * (schema.SDP_MAX + 1), 5, True, None],
}


def fields_of(kind: str) -> list[dataclasses.Field[Any]]:
    return list(dataclasses.fields(schema.REQUEST_TYPES[kind]))


def required(field: dataclasses.Field[Any]) -> bool:
    return field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING


def test_tables_cover_every_type_and_field() -> None:
    assert set(MINIMAL) == set(schema.REQUEST_TYPES)
    every_field = {f.name for kind in schema.REQUEST_TYPES for f in fields_of(kind)}
    assert every_field == set(RULES) == set(BAD_VALUES)


@pytest.mark.parametrize("kind", sorted(MINIMAL))
def test_minimal_request_parses(kind: str) -> None:
    rid, cmd = parse_request({"id": 12, "type": kind, **MINIMAL[kind]})
    assert rid == 12
    assert type(cmd) is schema.REQUEST_TYPES[kind]
    for key, value in MINIMAL[kind].items():
        assert getattr(cmd, key) == value


@pytest.mark.parametrize("kind", sorted(MINIMAL))
def test_unknown_extra_fields_are_tolerated(kind: str) -> None:
    obj = {"id": 1, "type": kind, **MINIMAL[kind], "extra": [1, {"x": None}], "v": 2}
    _, cmd = parse_request(obj)
    assert type(cmd) is schema.REQUEST_TYPES[kind]


@pytest.mark.parametrize("kind", sorted(MINIMAL))
def test_optional_fields_accept_valid_values(kind: str) -> None:
    optional = {f.name: OPTIONAL_VALUES[f.name] for f in fields_of(kind) if not required(f)}
    _, cmd = parse_request({"id": 1, "type": kind, **MINIMAL[kind], **optional})
    for key, value in optional.items():
        assert getattr(cmd, key) == value


REQUIRED_CASES = [
    (kind, f.name) for kind in sorted(MINIMAL) for f in fields_of(kind) if required(f)
]


@pytest.mark.parametrize(("kind", "field"), REQUIRED_CASES)
def test_missing_required_field_is_bad_request_naming_it(kind: str, field: str) -> None:
    obj = {"id": 5, "type": kind, **MINIMAL[kind]}
    del obj[field]
    with pytest.raises(RequestError) as info:
        parse_request(obj)
    assert info.value.code is ErrorCode.BAD_REQUEST
    assert info.value.id == 5
    assert info.value.field == field
    assert f"field '{field}'" in info.value.message


BAD_CASES = [
    (kind, f.name, value)
    for kind in sorted(MINIMAL)
    for f in fields_of(kind)
    for value in BAD_VALUES[f.name]
    # null means "absent" for fields whose default is None.
    if not (value is None and f.default is None)
]


@pytest.mark.parametrize(("kind", "field", "value"), BAD_CASES)
def test_bad_value_is_bad_request_naming_the_field(kind: str, field: str, value: Any) -> None:
    obj = {"id": 9, "type": kind, **MINIMAL[kind], field: value}
    with pytest.raises(RequestError) as info:
        parse_request(obj)
    exc = info.value
    assert isinstance(exc, ProtocolError)
    assert exc.code is ErrorCode.BAD_REQUEST
    assert exc.id == 9
    assert exc.field == field
    assert exc.message.startswith(f"field '{field}' must be")


@pytest.mark.parametrize("bad_id", [None, 0, -1, True, False, 1.0, 1.5, "1", [1], MAX_ID + 1])
def test_bad_or_missing_id_is_bad_request_without_id(bad_id: Any) -> None:
    obj: dict[str, Any] = {"type": "list_rooms"}
    if bad_id is not None:
        obj["id"] = bad_id
    with pytest.raises(RequestError) as info:
        parse_request(obj)
    assert info.value.code is ErrorCode.BAD_REQUEST
    assert info.value.id is None
    assert "field 'id'" in info.value.message


def test_largest_id_is_accepted() -> None:
    assert parse_request({"id": MAX_ID, "type": "list_rooms"})[0] == MAX_ID


@pytest.mark.parametrize("bad_type", [None, 5, True, ["chat"], {"t": 1}])
def test_missing_or_non_string_type_is_bad_request_with_id(bad_type: Any) -> None:
    obj: dict[str, Any] = {"id": 3}
    if bad_type is not None:
        obj["type"] = bad_type
    with pytest.raises(RequestError) as info:
        parse_request(obj)
    assert info.value.code is ErrorCode.BAD_REQUEST
    assert info.value.id == 3
    assert "field 'type'" in info.value.message


@pytest.mark.parametrize("kind", ["", "ok", "error", "Chat", "room_state", "x" * 1000])
def test_unknown_type(kind: str) -> None:
    with pytest.raises(RequestError) as info:
        parse_request({"id": 4, "type": kind})
    assert info.value.code is ErrorCode.UNKNOWN_TYPE
    assert info.value.id == 4
    assert len(info.value.message) < 100


def test_id_is_checked_before_type() -> None:
    with pytest.raises(RequestError) as info:
        parse_request({"id": "x", "type": "nope"})
    assert info.value.code is ErrorCode.BAD_REQUEST
    assert info.value.id is None


def test_seat_message_names_the_bounds() -> None:
    with pytest.raises(RequestError) as info:
        parse_request({"id": 1, "type": "take_seat", "room": "r1", "seat": -1})
    assert info.value.message.startswith("field 'seat' must be an integer >= 0")
    assert "<= 7" in info.value.message


def test_create_room_defaults_and_enum_conversion() -> None:
    _, cmd = parse_request({"id": 1, "type": "create_room", "title": "t"})
    assert cmd == schema.CreateRoom(
        title="t",
        seats=schema.MAX_SEATS,
        seat_mode=SeatMode.APPLY,
        auto_chatroom_at=schema.DEFAULT_AUTO_CHATROOM_AT,
    )
    _, cmd = parse_request({"id": 1, "type": "create_room", "title": "t", "seat_mode": "free"})
    assert isinstance(cmd, schema.CreateRoom)
    assert cmd.seat_mode is SeatMode.FREE


def test_labels_are_stripped_of_control_characters() -> None:
    _, cmd = parse_request({"id": 1, "type": "hello", "name": " \x1b[31mAda\x00 "})
    assert cmd == schema.Hello(name="[31mAda")
    _, cmd = parse_request({"id": 1, "type": "create_room", "title": "\tMy\x07 room\n"})
    assert isinstance(cmd, schema.CreateRoom)
    assert cmd.title == "My room"


def test_chat_text_keeps_line_breaks_drops_other_controls() -> None:
    _, cmd = parse_request({"id": 1, "type": "chat", "room": "r", "text": "a\nb\tc\x00d\x7f"})
    assert isinstance(cmd, schema.Chat)
    assert cmd.text == "a\nb\tcd"


def test_length_bounds_are_inclusive() -> None:
    ok: list[dict[str, Any]] = [
        {"type": "create_room", "title": "t" * 64},
        {"type": "join_room", "room": "r" * 64},
        {"type": "hello", "user": "u" * 64, "name": "n" * 64, "token": "t" * 4096},
        {"type": "request_mic", "room": "r", "note": "n" * 140},
        {"type": "request_mic", "room": "r", "note": ""},
        {"type": "chat", "room": "r", "text": "x" * 500},
        {"type": "list_rooms", "limit": 1, "cursor": "c" * 128},
        {"type": "create_room", "title": "t", "seats": 1, "auto_chatroom_at": 1000},
        {"type": "webrtc_offer", "room": "r", "sdp": "s" * schema.SDP_MAX},
    ]
    for obj in ok:
        parse_request({"id": 1, **obj})


def test_non_ascii_within_limits() -> None:
    _, cmd = parse_request({"id": 1, "type": "chat", "room": "r", "text": "🎤" * 500})
    assert isinstance(cmd, schema.Chat)
    assert len(cmd.text) == 500


def test_null_optional_fields_mean_absent() -> None:
    _, cmd = parse_request({"id": 1, "type": "accept_mic", "room": "r", "user": "u", "seat": None})
    assert cmd == schema.AcceptMic(room="r", user="u", seat=None)
    _, cmd = parse_request({"id": 1, "type": "hello", "token": None, "user": None, "name": None})
    assert cmd == schema.Hello()
