"""Frame codec: a binary frame is one MessagePack map, a text frame one JSON object.

Both encodings carry the same schema. Anything that does not decode to a map
with string keys is `bad_frame`; the caller keeps the connection open.
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


class _BadFrame(Exception):
    pass


def _reject_ext(code: int, data: bytes) -> Any:
    # Extension types (timestamps, custom) are not part of the schema.
    raise _BadFrame(f"MessagePack extension type {code} is not allowed")


def _check_keys(obj: dict[Any, Any]) -> dict[Any, Any]:
    for key in obj:
        if not isinstance(key, str):
            raise _BadFrame("map keys must be strings")
    return obj


def _reject_constant(name: str) -> Any:
    raise _BadFrame(f"JSON constant {name} is not allowed")


def _too_deep_or_foreign(obj: Any, level: int = 0) -> str | None:
    """Why `obj` is not plain wire data (too deep, or a non-schema type), or None."""
    if level > MAX_DEPTH:
        return f"nested deeper than {MAX_DEPTH}"
    if isinstance(obj, dict):
        for value in obj.values():
            if (why := _too_deep_or_foreign(value, level + 1)) is not None:
                return why
    elif isinstance(obj, list):
        for value in obj:
            if (why := _too_deep_or_foreign(value, level + 1)) is not None:
                return why
    elif not isinstance(obj, _PLAIN):
        # msgpack turns extension type -1 into a Timestamp before any hook sees it.
        return f"value of type {type(obj).__name__} is not allowed"
    return None


_PLAIN = (str, int, float, bool, bytes, type(None))


def decode(frame: bytes | bytearray | memoryview | str) -> dict[str, Any]:
    """Decode one frame to a map, or raise ProtocolError(bad_frame)."""
    try:
        if isinstance(frame, str):
            if len(frame) > MAX_FRAME or len(frame.encode("utf-8", "surrogatepass")) > MAX_FRAME:
                raise _BadFrame(f"frame larger than {MAX_FRAME} bytes")
            obj = json.loads(frame, parse_constant=_reject_constant)
            if isinstance(obj, dict):
                _check_keys(obj)
        elif isinstance(frame, bytes | bytearray | memoryview):
            data = bytes(frame)
            if len(data) > MAX_FRAME:
                raise _BadFrame(f"frame larger than {MAX_FRAME} bytes")
            obj = msgpack.unpackb(
                data,
                raw=False,
                strict_map_key=False,  # checked below, so bytes keys are refused too
                object_hook=_check_keys,
                ext_hook=_reject_ext,
            )
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
    if (why := _too_deep_or_foreign(obj)) is not None:
        raise ProtocolError(ErrorCode.BAD_FRAME, f"bad frame: {why}")
    return obj


def encode(obj: dict[str, Any], binary: bool) -> bytes | str:
    """Encode a wire map: MessagePack bytes when `binary`, else compact JSON text."""
    if binary:
        packed: bytes = msgpack.packb(obj, use_bin_type=True)
        return packed
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
