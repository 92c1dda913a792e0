"""Frame codec: a binary frame is one MessagePack map, a text frame one JSON object.

Both encodings carry the same schema. Anything that does not decode to a map
with string keys is `bad_frame`; the caller keeps the connection open.

Decoding is bounded before the work it bounds is done, because every frame reaches
here before `hello` and before any rate limit can tell a client apart: a frame's
nesting depth, the length of each array or map, the number of containers and the
number of entries over the whole frame all have limits. MessagePack is decoded in C
with the unpacker's own length limits and a constant-time hook per container; a JSON
text is pre-scanned (brackets, commas and quotes counted, strings cut out, in C string
operations) before json.loads. Neither walks the decoded values in Python unless the
frame holds more containers than MAX_DEPTH, and then over at most MAX_ITEMS entries.
"""

from __future__ import annotations

import json
from typing import Any

import msgpack

from protocol.errors import ErrorCode, ProtocolError

MAX_FRAME = 64 * 1024
"""Largest frame accepted, in bytes (the gateway closes with 1009 beyond it)."""

# A request is a flat map; a little nesting is tolerated in unknown fields, deep
# nesting is only ever an attack on the decoder's recursion.
MAX_DEPTH = 16
# The limits below are far above any request, and above the largest server message
# (a 200-member page, a 100-room list, a long mic queue, levels of 1,500 users), which
# test clients decode with this same function.
MAX_CONTAINER_LEN = 2048
"""Elements of one array, or pairs of one map."""
MAX_CONTAINERS = 512
"""Arrays and maps in one frame."""
MAX_ITEMS = 4096
"""Array elements plus map pairs over the whole frame."""


class _BadFrame(Exception):
    pass


def _reject_ext(code: int, data: bytes) -> Any:
    # Extension types (timestamps, custom) are not part of the schema.
    raise _BadFrame(f"MessagePack extension type {code} is not allowed")


def _reject_constant(name: str) -> Any:
    raise _BadFrame(f"JSON constant {name} is not allowed")


_STR_ONLY = frozenset({str})


class _Budget:
    """Counts containers as the C unpacker completes them (innermost first), so an
    oversized frame stops the unpacker part-way instead of after a Python walk."""

    __slots__ = ("containers", "items")

    def __init__(self) -> None:
        self.containers = 0
        self.items = 0

    def on_map(self, obj: dict[Any, Any]) -> dict[Any, Any]:
        # The counting is written out in both hooks: a call more per container would
        # cost as much as the rest of the hook.
        self.containers += 1
        self.items += len(obj)
        if self.containers > MAX_CONTAINERS or self.items > MAX_ITEMS:
            raise _BadFrame(self.why())
        # raw=False and strict_map_key leave str or bytes keys; bytes keys are refused.
        if not _STR_ONLY.issuperset(map(type, obj)):
            raise _BadFrame("map keys must be strings")
        return obj

    def on_list(self, obj: list[Any]) -> list[Any]:
        self.containers += 1
        self.items += len(obj)
        if self.containers > MAX_CONTAINERS or self.items > MAX_ITEMS:
            raise _BadFrame(self.why())
        return obj

    def why(self) -> str:
        if self.containers > MAX_CONTAINERS:
            return f"more than {MAX_CONTAINERS} arrays and maps"
        return f"more than {MAX_ITEMS} entries in all"


def _deeper_than(obj: Any, limit: int) -> bool:
    """True when containers nest more than `limit` levels, counting `obj` (breadth first)."""
    level = [obj]
    for _ in range(limit):
        below: list[Any] = []
        for container in level:
            # Plain loops: a generator per container costs more than the entries in it.
            for value in container.values() if type(container) is dict else container:
                if type(value) is list or type(value) is dict:
                    below.append(value)
        if not below:
            return False
        level = below
    return True


def _decode_msgpack(data: bytes) -> Any:
    budget = _Budget()
    obj = msgpack.unpackb(
        data,
        raw=False,
        strict_map_key=True,
        object_hook=budget.on_map,
        list_hook=budget.on_list,
        ext_hook=_reject_ext,
        max_str_len=MAX_FRAME,
        max_bin_len=MAX_FRAME,
        max_array_len=MAX_CONTAINER_LEN,
        max_map_len=MAX_CONTAINER_LEN,
        max_ext_len=0,  # also refuses timestamps, which skip ext_hook
    )
    # Depth cannot exceed the number of containers: most frames need no walk at all.
    if budget.containers > MAX_DEPTH and _deeper_than(obj, MAX_DEPTH):
        raise _BadFrame(f"nested deeper than {MAX_DEPTH}")
    return obj


_BRACKETS_ONLY = str.maketrans("", "", "".join(chr(c) for c in range(128) if chr(c) not in "[]{}"))
# Strings per frame are at most a key and a value per entry: two quotes each.
_MAX_QUOTES = 4 * MAX_ITEMS + 2


def _outside_strings(text: str) -> str:
    """`text` without its JSON strings: escapes dropped, then every other quote-split
    piece kept. Backslashes are valid JSON only inside strings, and dropping escaped
    backslashes before escaped quotes pairs them as a JSON parser does."""
    if "\\" in text:
        text = text.replace("\\\\", "").replace('\\"', "")
    return "".join(text.split('"')[::2])


def _prescan_json(text: str) -> int:
    """Refuse a JSON text whose nesting or size is over the limits, before parsing it.

    Returns how many commas it has outside strings, or an upper bound of that.
    """
    opens = text.count("[") + text.count("{")
    commas = text.count(",")
    if opens <= MAX_DEPTH and commas < MAX_ITEMS:
        return commas  # a plain request: depth ≤ opens, entries ≤ commas + opens
    if text.count('"') > _MAX_QUOTES:
        raise _BadFrame(f"more than {MAX_ITEMS} entries in all")
    # Brackets and commas inside strings are text, not structure.
    bare = _outside_strings(text)
    opens = bare.count("[") + bare.count("{")
    if opens > MAX_CONTAINERS:
        raise _BadFrame(f"more than {MAX_CONTAINERS} arrays and maps")
    commas = bare.count(",")
    if commas >= MAX_ITEMS:
        raise _BadFrame(f"more than {MAX_ITEMS} entries in all")
    if opens <= MAX_DEPTH:
        return commas
    depth = 0
    # What is left beside brackets (non-ASCII outside strings) is invalid JSON, which
    # json.loads refuses; here it is skipped.
    for ch in bare.translate(_BRACKETS_ONLY):
        if ch in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                raise _BadFrame(f"nested deeper than {MAX_DEPTH}")
        elif ch in "]}":
            depth -= 1
    return commas


def _check_json_lengths(obj: Any) -> None:
    # Entries in all are bounded by the pre-scan; one container's length is checked only
    # when the text has enough commas for any container to be too long.
    stack = [obj]
    while stack:
        container = stack.pop()
        if len(container) > MAX_CONTAINER_LEN:
            raise _BadFrame(f"an array or map of more than {MAX_CONTAINER_LEN} entries")
        for value in container.values() if type(container) is dict else container:
            if type(value) is list or type(value) is dict:
                stack.append(value)


def _decode_json(text: str) -> Any:
    if len(text) > MAX_FRAME or len(text.encode("utf-8", "surrogatepass")) > MAX_FRAME:
        raise _BadFrame(f"frame larger than {MAX_FRAME} bytes")
    commas = _prescan_json(text)
    obj = json.loads(text, parse_constant=_reject_constant)
    if commas >= MAX_CONTAINER_LEN:
        _check_json_lengths(obj)
    return obj


def decode(frame: bytes | bytearray | memoryview | str) -> dict[str, Any]:
    """Decode one frame to a map, or raise ProtocolError(bad_frame)."""
    try:
        if isinstance(frame, str):
            obj = _decode_json(frame)
        elif isinstance(frame, bytes | bytearray | memoryview):
            if len(frame) > MAX_FRAME:
                raise _BadFrame(f"frame larger than {MAX_FRAME} bytes")
            obj = _decode_msgpack(bytes(frame))
        else:
            raise _BadFrame(f"frame of type {type(frame).__name__}")
    except _BadFrame as exc:
        raise ProtocolError(ErrorCode.BAD_FRAME, f"bad frame: {exc}") from None
    except (ValueError, TypeError, RecursionError, msgpack.UnpackException) as exc:
        # json.JSONDecodeError and every msgpack decoding error are ValueError subclasses.
        kind = "JSON" if isinstance(frame, str) else "MessagePack"
        detail = str(exc) or type(exc).__name__
        message = f"bad frame: not valid {kind} ({detail})"
        raise ProtocolError(ErrorCode.BAD_FRAME, message) from None
    if not isinstance(obj, dict):
        kind = "JSON object" if isinstance(frame, str) else "MessagePack map"
        raise ProtocolError(
            ErrorCode.BAD_FRAME, f"bad frame: expected one {kind}, got {type(obj).__name__}"
        )
    return obj


def encode(obj: dict[str, Any], binary: bool) -> bytes | str:
    """Encode a wire map: MessagePack bytes when `binary`, else compact JSON text."""
    if binary:
        packed: bytes = msgpack.packb(obj, use_bin_type=True)
        return packed
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
