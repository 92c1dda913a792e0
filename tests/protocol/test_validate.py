"""Request validation: every request type, every field, ids, types, unknown fields."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from protocol import schema
from protocol.errors import ErrorCode, ProtocolError
from protocol.schema import SeatMode
from protocol.validate import MAX_ID, RULES, TYPE_RULES, RequestError, parse_request

# A minimal valid request of every type (required fields only; a targeted verb's room form).
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
    # 1.1
    "list_members": {"room": "r1"},
    "set_profile": {},
    "get_profile": {"user": "bob"},
    "follow": {"user": "bob"},
    "unfollow": {"user": "bob"},
    "list_follows": {"which": "friends"},
    "block": {"user": "bob"},
    "unblock": {"user": "bob"},
    "call": {"user": "bob"},
    "answer_call": {"call": "c1"},
    "decline_call": {"call": "c1"},
    "hangup": {"call": "c1"},
    "list_calls": {},
    "match_join": {},
    "match_leave": {},
    "report": {"user": "bob", "reason": "spam"},
    "set_voice_effect": {"room": "r1", "effect": "robot"},
    "list_sounds": {},
    "play_sound": {"room": "r1", "sound": "applause"},
    "list_music": {},
    "play_music": {"room": "r1", "track": "night.mp3"},
    "stop_music": {"room": "r1"},
    "set_music_volume": {"room": "r1", "volume": 0.5},
    "roll_dice": {"room": "r1"},
    "draw_card": {"room": "r1", "deck": "truth"},
    "start_recording": {"room": "r1"},
    "stop_recording": {"room": "r1"},
}


def call_form(kind: str) -> dict[str, Any]:
    """A targeted verb's minimal request aimed at a call instead of a room."""
    params = {k: v for k, v in MINIMAL[kind].items() if k != "room"}
    return {**params, "call": "c1"}


# Every form a request can take: (kind, minimal params, the class it parses to).
FORMS: list[tuple[str, dict[str, Any], type]] = [
    (kind, MINIMAL[kind], schema.ALL_REQUEST_TYPES[kind]) for kind in sorted(MINIMAL)
] + [
    (kind, call_form(kind), schema.CALL_FORMS.get(kind, schema.ALL_REQUEST_TYPES[kind]))
    for kind in sorted(schema.TARGETED)
]
FORM_IDS = [f"{kind}-{'call' if 'call' in params else 'room'}" for kind, params, _ in FORMS]

# A valid value for every optional field (PER_KIND first).
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
    "app": "duoshan",
    "verified": True,
    "city": "Chengdu",
    "tags": ["music", "hiking"],
    "bio": "I sing.\nBadly.",
    "video": True,
    "count": 5,
    "loop": True,
}
PER_KIND_VALUES: dict[tuple[str, str], Any] = {
    ("match_join", "city"): "same",
    ("list_members", "limit"): 200,
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
    # 1.1
    "app": ["", "Douyin", "a" * 33, "with space", "d.y", 5, True, None, ["main"]],
    "verified": [0, 1, "true", None],
    "city": ["c" * 65, 5, True, ["Chengdu"], "\ud800"],
    "tags": [
        "music", ["t"] * 11, [""], ["  "], ["t" * 25], [5], [None], [["x"]], {"t": 1}, 5, True,
        [f"t{i}" for i in range(11)],
    ],
    "bio": ["b" * 141, 5, True, ["bio"]],
    "which": ["", "Friends", "mutual", "all", "Blocked", "blocking", "block", 1, True, None],
    "call": ["", "c" * 65, "has space", "dot.ted", 5, True, ["c1"]],
    "video": [0, 1, "true"],
    "reason": ["", "   ", "r" * 141, 5, True, None, ["spam"]],
    "effect": ["", "ROBOT", "chipmunk", 1, True, None],
    "sound": ["", "s" * 65, "a/b", "has space", 5, True, None, ["applause"]],
    "track": ["", "t" * 65, "../x", 5, True, None],
    "loop": [0, 1, "true"],
    "volume": [-0.01, 1.01, 2, -1, float("nan"), float("inf"), True, "0.5", None, 10**400],
    "count": [0, 6, -1, True, 2.0, "2", None],
    "deck": ["", "Truth", "joker", 1, True, None],
}
PER_KIND_BAD: dict[tuple[str, str], list[Any]] = {
    ("list_members", "limit"): [0, 201, -5, True, 10.0, "10", None],
    ("match_join", "city"): ["", "SAME", "Chengdu", "near", 1, True, None],
}


def fields_of(cls: type) -> list[dataclasses.Field[Any]]:
    return list(dataclasses.fields(cls))


def required(field: dataclasses.Field[Any]) -> bool:
    return field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING


def form_fields(kind: str, params: dict[str, Any], cls: type) -> list[dataclasses.Field[Any]]:
    """The fields a form checks: a targeted verb's other target is not part of the form."""
    fields = fields_of(cls)
    if kind in schema.TARGETED:
        other = "room" if "call" in params else "call"
        fields = [f for f in fields if f.name != other]
    return fields


def test_tables_cover_every_type_and_field() -> None:
    assert set(MINIMAL) == set(schema.ALL_REQUEST_TYPES)
    assert not set(schema.REQUEST_TYPES) & set(schema.REQUEST_TYPES_1_1)
    every_field = {f.name for _, _, cls in FORMS for f in fields_of(cls)}
    assert every_field == set(RULES) == set(BAD_VALUES)
    assert set(PER_KIND_BAD) == {(k, f) for k, rules in TYPE_RULES.items() for f in rules}
    assert set(schema.TYPE_OF.values()) == set(schema.ALL_REQUEST_TYPES)


def test_version_1_table_is_unchanged() -> None:
    # Version 1 code (the room machine, the gateway's fuzz test) iterates this table.
    assert len(schema.REQUEST_TYPES) == 28
    assert schema.REQUEST_TYPES["webrtc_offer"] is schema.WebrtcOffer


@pytest.mark.parametrize(("kind", "params", "cls"), FORMS, ids=FORM_IDS)
def test_minimal_request_parses(kind: str, params: dict[str, Any], cls: type) -> None:
    rid, cmd = parse_request({"id": 12, "type": kind, **params})
    assert rid == 12
    assert type(cmd) is cls
    assert schema.TYPE_OF[type(cmd)] == kind
    for key, value in params.items():
        assert getattr(cmd, key) == value


@pytest.mark.parametrize(("kind", "params", "cls"), FORMS, ids=FORM_IDS)
def test_unknown_extra_fields_are_tolerated(kind: str, params: dict[str, Any], cls: type) -> None:
    obj = {"id": 1, "type": kind, **params, "extra": [1, {"x": None}], "v": 2}
    _, cmd = parse_request(obj)
    assert type(cmd) is cls


def optional_value(kind: str, field: str) -> Any:
    return PER_KIND_VALUES.get((kind, field), OPTIONAL_VALUES.get(field))


@pytest.mark.parametrize(("kind", "params", "cls"), FORMS, ids=FORM_IDS)
def test_optional_fields_accept_valid_values(kind: str, params: dict[str, Any], cls: type) -> None:
    optional = {
        f.name: optional_value(kind, f.name)
        for f in form_fields(kind, params, cls)
        if not required(f) and f.name not in params
    }
    _, cmd = parse_request({"id": 1, "type": kind, **params, **optional})
    for key, value in optional.items():
        expected = tuple(value) if isinstance(value, list) else value
        assert getattr(cmd, key) == expected


REQUIRED_CASES = [
    (kind, params, f.name)
    for kind, params, cls in FORMS
    for f in form_fields(kind, params, cls)
    if required(f) or (kind in schema.TARGETED and f.name in schema.TARGET_FIELDS)
]


@pytest.mark.parametrize(("kind", "params", "field"), REQUIRED_CASES)
def test_missing_required_field_is_bad_request_naming_it(
    kind: str, params: dict[str, Any], field: str
) -> None:
    obj = {"id": 5, "type": kind, **params}
    del obj[field]
    with pytest.raises(RequestError) as info:
        parse_request(obj)
    assert info.value.code is ErrorCode.BAD_REQUEST
    assert info.value.id == 5
    # A missing target is reported as the version 1 field, `room`.
    named = "room" if field in schema.TARGET_FIELDS and kind in schema.TARGETED else field
    assert info.value.field == named
    assert f"field '{named}'" in info.value.message


def bad_values(kind: str, field: str) -> list[Any]:
    return PER_KIND_BAD.get((kind, field), BAD_VALUES[field])


BAD_CASES = [
    (kind, params, f.name, value)
    for kind, params, cls in FORMS
    for f in form_fields(kind, params, cls)
    for value in bad_values(kind, f.name)
    # null means "absent" for fields whose default is None; a null target is a missing one.
    if not (
        value is None
        and (f.default is None or (kind in schema.TARGETED and f.name in schema.TARGET_FIELDS))
    )
]


@pytest.mark.parametrize(("kind", "params", "field", "value"), BAD_CASES)
def test_bad_value_is_bad_request_naming_the_field(
    kind: str, params: dict[str, Any], field: str, value: Any
) -> None:
    obj = {"id": 9, "type": kind, **params, field: value}
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


# -- version 1.1 specifics -------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(schema.TARGETED))
def test_both_targets_is_bad_request_naming_call(kind: str) -> None:
    obj = {"id": 2, "type": kind, **MINIMAL[kind], "call": "c1"}
    with pytest.raises(RequestError) as info:
        parse_request(obj)
    assert info.value.code is ErrorCode.BAD_REQUEST
    assert info.value.field == "call"
    assert "exactly one target" in info.value.message


@pytest.mark.parametrize("kind", sorted(schema.TARGETED))
@pytest.mark.parametrize(
    "nulls", [{}, {"room": None}, {"call": None}, {"room": None, "call": None}]
)
def test_no_target_is_bad_request_naming_room(kind: str, nulls: dict[str, Any]) -> None:
    params = {k: v for k, v in MINIMAL[kind].items() if k != "room"}
    with pytest.raises(RequestError) as info:
        parse_request({"id": 2, "type": kind, **params, **nulls})
    assert info.value.code is ErrorCode.BAD_REQUEST
    assert info.value.field == "room"
    assert "'call'" in info.value.message


def test_target_property_names_the_one_given() -> None:
    _, cmd = parse_request({"id": 1, "type": "roll_dice", "call": "c9", "room": None})
    assert isinstance(cmd, schema.RollDice)
    assert cmd.target == (schema.TargetKind.CALL, "c9")
    assert cmd.count == 1
    _, cmd = parse_request({"id": 1, "type": "draw_card", "room": "r1", "deck": "icebreaker"})
    assert isinstance(cmd, schema.DrawCard)
    assert cmd.target == (schema.TargetKind.ROOM, "r1")
    assert cmd.deck is schema.Deck.ICEBREAKER


def test_webrtc_offer_forms() -> None:
    _, room_offer = parse_request({"id": 1, "type": "webrtc_offer", "room": "r", "sdp": "v=0"})
    assert room_offer == schema.WebrtcOffer(room="r", sdp="v=0")
    _, call_offer = parse_request({"id": 1, "type": "webrtc_offer", "call": "c", "sdp": "v=0"})
    assert call_offer == schema.CallOffer(call="c", sdp="v=0")
    assert schema.TYPE_OF[schema.CallOffer] == "webrtc_offer"


def test_hello_defaults_and_development_fields() -> None:
    _, cmd = parse_request({"id": 1, "type": "hello", "user": "ann"})
    assert cmd == schema.Hello(user="ann", app="main", verified=False, city=None)
    _, cmd = parse_request(
        {"id": 1, "type": "hello", "user": "ann", "app": "douyin", "verified": True,
         "city": " Chengdu\x00 "}
    )
    assert cmd == schema.Hello(user="ann", app="douyin", verified=True, city="Chengdu")


def test_set_profile_absent_fields_stay_none_and_empty_values_clear() -> None:
    _, cmd = parse_request({"id": 1, "type": "set_profile"})
    assert cmd == schema.SetProfile(city=None, tags=None, bio=None)
    _, cmd = parse_request({"id": 1, "type": "set_profile", "city": "", "tags": [], "bio": ""})
    assert cmd == schema.SetProfile(city="", tags=(), bio="")


def test_tags_are_cleaned_and_kept_once_in_order() -> None:
    tags = [" music ", "hiking", "music", "\x07cats", "猫" * 24]
    _, cmd = parse_request({"id": 1, "type": "set_profile", "tags": tags})
    assert isinstance(cmd, schema.SetProfile)
    assert cmd.tags == ("music", "hiking", "cats", "猫" * 24)


def test_tag_and_bio_bounds_are_inclusive() -> None:
    tags = [f"t{i:02d}" + "x" * 21 for i in range(schema.TAGS_MAX)]
    _, cmd = parse_request(
        {"id": 1, "type": "set_profile", "tags": tags, "bio": "b" * 140, "city": "c" * 64}
    )
    assert isinstance(cmd, schema.SetProfile)
    assert cmd.tags == tuple(tags) and all(len(t) == schema.TAG_MAX for t in tags)
    _, cmd = parse_request({"id": 1, "type": "match_join", "tags": tags})
    assert isinstance(cmd, schema.MatchJoin)
    assert cmd.city is schema.CityChoice.ANY and len(cmd.tags or ()) == schema.TAGS_MAX


def test_tags_message_names_the_bounds() -> None:
    with pytest.raises(RequestError) as info:
        parse_request({"id": 1, "type": "set_profile", "tags": ["x" * 25]})
    assert info.value.message == (
        "field 'tags' must be a list of at most 10 items, each a string of 1 to 24 characters"
    )


@pytest.mark.parametrize(("value", "expected"), [(0, 0.0), (1, 1.0), (0.25, 0.25), (1.0, 1.0)])
def test_volume_takes_integers_and_floats(value: Any, expected: float) -> None:
    _, cmd = parse_request({"id": 1, "type": "set_music_volume", "room": "r", "volume": value})
    assert isinstance(cmd, schema.SetMusicVolume)
    assert cmd.volume == expected and type(cmd.volume) is float


def test_list_members_limit_is_its_own() -> None:
    _, cmd = parse_request({"id": 1, "type": "list_members", "room": "r"})
    assert cmd == schema.ListMembers(room="r", limit=100, cursor=None)
    assert parse_request({"id": 1, "type": "list_members", "room": "r", "limit": 200})
    with pytest.raises(RequestError):
        parse_request({"id": 1, "type": "list_rooms", "limit": 200})


@pytest.mark.parametrize("which", ["following", "followers", "friends", "blocked"])
def test_list_follows_takes_every_list(which: str) -> None:
    # "blocked" is our extension (docs/protocol.md): a value the contract leaves room for.
    _, cmd = parse_request({"id": 1, "type": "list_follows", "which": which, "limit": 7,
                            "cursor": "c"})
    assert cmd == schema.ListFollows(which=schema.Which(which), limit=7, cursor="c")
    assert {w.value for w in schema.Which} == {"following", "followers", "friends", "blocked"}


def test_report_reason_is_cleaned() -> None:
    _, cmd = parse_request({"id": 1, "type": "report", "user": "u", "reason": " rude\x00 "})
    assert cmd == schema.Report(user="u", reason="rude")
