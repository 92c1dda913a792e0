"""Codec: round trips in both encodings, refusal of everything that is not a map, and
decoding bounded in depth and size before the work is done (hostile frames)."""

from __future__ import annotations

import contextlib
import functools
import json
import time
from collections.abc import Callable
from typing import Any

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol.codec import (
    MAX_CONTAINER_LEN,
    MAX_CONTAINERS,
    MAX_DEPTH,
    MAX_FRAME,
    MAX_ITEMS,
    decode,
    encode,
)
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


# --- bounds: depth, one container's length, containers and entries per frame ----------


def nest(levels: int, inner: Any = 1) -> dict[str, Any]:
    """A map holding lists nested so that the frame has `levels` levels of containers."""
    value: Any = inner
    for _ in range(levels - 1):
        value = [value]
    return {"a": value}


def refusal(frame: bytes | str) -> str:
    with pytest.raises(ProtocolError) as info:
        decode(frame)
    assert info.value.code is ErrorCode.BAD_FRAME
    return info.value.message


BOTH = pytest.mark.parametrize("binary", [True, False], ids=["msgpack", "json"])


@BOTH
def test_depth_up_to_the_bound_is_accepted_and_one_more_refused(binary: bool) -> None:
    deepest = nest(MAX_DEPTH)
    assert decode(encode(deepest, binary)) == deepest
    assert "deeper" in refusal(encode(nest(MAX_DEPTH + 1), binary))
    # Empty containers count as a level too.
    assert "deeper" in refusal(encode(nest(MAX_DEPTH + 1, inner=[]), binary))


@BOTH
def test_many_shallow_containers_are_not_mistaken_for_depth(binary: bool) -> None:
    # More containers than MAX_DEPTH makes the depth check walk; it must count levels.
    frame = {**nest(MAX_DEPTH), "wide": [[i] for i in range(3 * MAX_DEPTH)], "m": {"k": {}}}
    assert decode(encode(frame, binary)) == frame
    frame["m"] = nest(MAX_DEPTH)  # now one level too deep, beside many shallow ones
    assert "deeper" in refusal(encode(frame, binary))


@BOTH
def test_one_container_length(binary: bool) -> None:
    fits = {"a": list(range(MAX_CONTAINER_LEN))}
    assert decode(encode(fits, binary)) == fits
    refusal(encode({"a": list(range(MAX_CONTAINER_LEN + 1))}, binary))
    refusal(encode({"m": {str(i): 0 for i in range(MAX_CONTAINER_LEN + 1)}}, binary))
    wide_top = {str(i): 0 for i in range(MAX_CONTAINER_LEN + 1)}
    refusal(encode(wide_top, binary))


@BOTH
def test_containers_per_frame(binary: bool) -> None:
    # The top map and the list count: MAX_CONTAINERS in all fits, one more does not.
    fits: dict[str, Any] = {"a": [[] for _ in range(MAX_CONTAINERS - 2)]}
    assert decode(encode(fits, binary)) == fits
    message = refusal(encode({"a": [[] for _ in range(MAX_CONTAINERS - 1)]}, binary))
    assert "arrays and maps" in message


@BOTH
def test_entries_per_frame(binary: bool) -> None:
    lists = 4
    size = MAX_ITEMS // lists - 1  # a list and its pair in the top map: MAX_ITEMS in all
    assert size <= MAX_CONTAINER_LEN
    fits = {f"k{i}": [0] * size for i in range(lists)}
    assert decode(encode(fits, binary)) == fits
    over = {f"k{i}": [0] * size for i in range(lists + 1)}
    assert "entries" in refusal(encode(over, binary))


def test_json_brackets_and_commas_inside_strings_are_text() -> None:
    for text in ["[" * 30_000, "{[," * 10_000, ',"' * 10_000, "\\" * 999 + "[[[", "é[" * 9000]:
        frame = {
            "type": "chat",
            "tail": "ends in a backslash \\",
            "text": text,
            "quoted": 'a"b\\"[[[[[[[[[[[[[[[[[[[[[[[["',
        }
        assert decode(encode(frame, False)) == frame


@pytest.mark.parametrize(
    "text",
    [
        '{"a":"' + '\\"' * 30_000,  # one string that never ends, full of escaped quotes
        '{"a":' + '"' * 60_000,  # quote after quote
        '{"a":"\\' + "[" * 100,  # a string ending in a lone backslash
        '{"a":' + "[" * 60_000,  # an array that never ends
        '{"a":' + "[" * (MAX_DEPTH + 1) + '"]]]"' + "]" * (MAX_DEPTH + 1) + "}",
    ],
)
def test_json_hostile_texts_are_refused(text: str) -> None:
    refusal(text)


def test_msgpack_containers_declared_huge_are_refused_before_reading() -> None:
    # An array header claiming 2**32 - 1 entries, with nothing after it.
    assert "max_array_len" in refusal(b"\x81\xa1a\xdd\xff\xff\xff\xff")
    assert "max_map_len" in refusal(b"\x81\xa1a\xdf\x00\x01\x00\x00")


# --- cost: hostile frames against a normal request, measured in one run ---------------


def best_time(fn: Callable[[], object], repeats: int = 15) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        with contextlib.suppress(ProtocolError):
            fn()
        best = min(best, time.perf_counter() - start)
    return best


def _nested_msgpack(levels: int) -> bytes:
    value: Any = []
    for _ in range(levels):
        value = [value]
    return msgpack.packb({"a": value})


HOSTILE: list[tuple[str, bytes | str]] = [
    ("json 58 KB of open brackets", '{"a":' + "[" * 58_000),
    ("json 29k nested arrays", '{"a":' + "[" * 29_000 + "]" * 29_000 + "}"),
    ("json 29k entries", json.dumps({"a": [0] * 29_000}, separators=(",", ":"))),
    ("json 14k empty arrays", json.dumps({"a": [[]] * 14_000}, separators=(",", ":"))),
    ("json unterminated escapes", '{"a":"' + '\\"' * 29_000),
    ("msgpack 58 KB of array headers", b"\x81\xa1a" + b"\x91" * 58_000 + b"\x01"),
    ("msgpack 1000 nested arrays", _nested_msgpack(1000)),
    ("msgpack 58k entries", msgpack.packb({"a": [0] * 58_000})),
    ("msgpack 400 wide arrays x2", msgpack.packb({"a": [[0, 0, 0]] * 400, "b": [[0]] * 400})),
    ("msgpack 8^4 wide nest", msgpack.packb({"a": [[[[0] * 8] * 8] * 8] * 8})),
]


def test_hostile_frames_cost_a_bounded_multiple_of_a_normal_request() -> None:
    request = {"id": 7, "type": "chat", "room": "r-1", "text": "hello there, how are you?"}
    frames = {binary: encode(request, binary) for binary in (True, False)}
    normal = {b: best_time(functools.partial(decode, frame), 200) for b, frame in frames.items()}
    ratios = {}
    for label, frame in HOSTILE:
        assert len(frame) <= MAX_FRAME
        with pytest.raises(ProtocolError):
            decode(frame)
        cost = best_time(functools.partial(decode, frame))
        ratios[label] = cost / normal[isinstance(frame, bytes)]
    print("hostile/normal decode time:", {k: round(v) for k, v in ratios.items()})
    # Before the bounds, walking a 58 KB frame in Python cost ~5.7 ms, ~3000 normal
    # requests; bounded, the worst measured ~60 (refused part-way, in C).
    assert max(ratios.values()) < 400, ratios
