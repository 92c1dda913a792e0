"""Codec: round trips in both encodings and refusal of everything that is not a map."""

from __future__ import annotations

import json

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol.codec import MAX_DEPTH, MAX_FRAME, decode, encode
from protocol.errors import ErrorCode, ProtocolError
from protocol.schema import Mode, Role

SAMPLE = {
    "id": 7,
    "type": "chat",
    "room": "r-1",
    "text": "héllo ✓ 🎤",
    "nested": {"list": [1, 2.5, None, True, "x"], "empty": {}},
}


@pytest.mark.parametrize("binary", [True, False])
def test_round_trip(binary: bool) -> None:
    frame = encode(SAMPLE, binary)
    assert isinstance(frame, bytes if binary else str)
    assert decode(frame) == SAMPLE


def test_binary_is_one_msgpack_map_and_text_is_compact_json() -> None:
    assert msgpack.unpackb(encode(SAMPLE, True), raw=False) == SAMPLE
    text = encode({"a": 1, "b": "é"}, False)
    assert text == '{"a":1,"b":"é"}'
    assert json.loads(text) == {"a": 1, "b": "é"}


def test_str_enums_encode_as_their_values() -> None:
    obj = {"role": Role.HOST, "mode": Mode.CHATROOM}
    assert decode(encode(obj, True)) == {"role": "host", "mode": "chatroom"}
    assert decode(encode(obj, False)) == {"role": "host", "mode": "chatroom"}


def test_decodes_bytearray_and_memoryview() -> None:
    packed = msgpack.packb({"a": 1})
    assert decode(bytearray(packed)) == {"a": 1}
    assert decode(memoryview(packed)) == {"a": 1}


BAD_FRAMES: list[tuple[str, bytes | str]] = [
    ("garbage bytes", b"\xc1\xff\x00garbage"),
    ("empty bytes", b""),
    ("msgpack int", msgpack.packb(42)),
    ("msgpack array", msgpack.packb([1, 2])),
    ("msgpack str", msgpack.packb("hello")),
    ("msgpack int key", msgpack.packb({1: "x"})),
    ("msgpack bytes key", msgpack.packb({b"id": 1}, use_bin_type=True)),
    ("msgpack nested int key", msgpack.packb({"a": {2: 3}})),
    ("msgpack list key", b"\x81\x91\x01\x02"),
    ("msgpack trailing data", msgpack.packb({"a": 1}) + b"\x01"),
    ("msgpack truncated", msgpack.packb({"a": "long string"})[:-3]),
    ("msgpack huge declared map", b"\xdf\xff\xff\xff\xff"),
    ("msgpack ext type", msgpack.packb({"a": msgpack.ExtType(5, b"x")})),
    ("msgpack timestamp", b"\x81\xa1a\xd6\xff\x00\x00\x00\x01"),
    ("json array", "[1, 2, 3]"),
    ("json string", '"hello"'),
    ("json number", "42"),
    ("json null", "null"),
    ("json garbage", "{not json"),
    ("json empty", ""),
    ("json trailing", '{"a": 1} {"b": 2}'),
    ("json NaN", '{"a": NaN}'),
    ("json Infinity", '{"a": Infinity}'),
    ("json deep nesting", '{"a":' + "[" * 5000 + "]" * 5000 + "}"),
    ("msgpack deep nesting", b"\x81\xa1a" + b"\x91" * 5000 + b"\x01"),
    ("nesting beyond MAX_DEPTH", '{"a":' + "[" * (MAX_DEPTH + 2) + "]" * (MAX_DEPTH + 2) + "}"),
]


@pytest.mark.parametrize(("label", "frame"), BAD_FRAMES, ids=[b[0] for b in BAD_FRAMES])
def test_refuses_non_maps(label: str, frame: bytes | str) -> None:
    with pytest.raises(ProtocolError) as info:
        decode(frame)
    assert info.value.code is ErrorCode.BAD_FRAME
    assert info.value.message.startswith("bad frame")


def test_refuses_oversized_frames_both_encodings() -> None:
    big_text = json.dumps({"text": "x" * MAX_FRAME})
    big_bin = msgpack.packb({"text": "x" * MAX_FRAME})
    for frame in (big_text, big_bin):
        with pytest.raises(ProtocolError) as info:
            decode(frame)
        assert info.value.code is ErrorCode.BAD_FRAME
        assert "larger than" in info.value.message
    # Just under the limit is fine.
    fits = {"text": "x" * (MAX_FRAME - 100)}
    assert decode(encode(fits, True)) == fits
    assert decode(encode(fits, False)) == fits


def test_refuses_frame_of_other_python_type() -> None:
    with pytest.raises(ProtocolError) as info:
        decode(42)  # type: ignore[arg-type]
    assert info.value.code is ErrorCode.BAD_FRAME


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_decode_to_a_map_or_bad_frame(data: bytes) -> None:
    try:
        obj = decode(data)
    except ProtocolError as exc:
        assert exc.code is ErrorCode.BAD_FRAME
    else:
        assert isinstance(obj, dict)
        assert all(isinstance(k, str) for k in obj)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_random_text_decodes_to_a_map_or_bad_frame(data: str) -> None:
    try:
        obj = decode(data)
    except ProtocolError as exc:
        assert exc.code is ErrorCode.BAD_FRAME
    else:
        assert isinstance(obj, dict)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.text(max_size=10), json_values, max_size=6), st.booleans())
def test_round_trip_property(obj: dict[str, object], binary: bool) -> None:
    assert decode(encode(obj, binary)) == obj
