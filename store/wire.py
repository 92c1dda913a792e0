"""What the store and the cluster put into Redis: msgpack values, events, list cursors, and
the event channel's messages.

A channel message is `<seq>:` + header + blob: header is msgpack `{r: room, v: version,
n: origin node, e: events}`, plus `u: 1` when the commit changed no state (a chat line: no
blob follows, the room is as at version `v`), `d: delta` when the commit's change to the
room goes instead of the room (rooms.delta: no blob follows; a node holding the room at
version `v - 1` applies it), and `b: [banned, unbanned]` when the room's bans changed. The
blob is the room after the commit (`room_blob`: msgpack of `Room.to_dict()` without the bans,
which live in a set of their own): sent when the room was created, or when its delta would
be no smaller; empty when it closed, when nothing changed, with a delta, or for a notice that
carries no state. `seq` counts the room's messages (gap
detection); 0 marks a notice outside the sequence.
"""

from __future__ import annotations

import base64
import binascii
import math
from collections.abc import Sequence
from typing import Any

import msgpack

from protocol.errors import ErrorCode
from rooms.machine import Event, RoomError
from rooms.model import Room


def pack(value: Any) -> bytes:
    return msgpack.packb(value, use_bin_type=True, default=_fallback)


def _fallback(value: Any) -> Any:
    # Event data may carry node-local objects (a connection handle): they mean nothing on another
    # node, so they travel as their text form.
    if isinstance(value, set | frozenset):
        return sorted(value)
    return str(value)


def unpack(data: Any) -> Any:
    return msgpack.unpackb(data, raw=False, strict_map_key=False)


def as_text(value: Any) -> str:
    """A Redis reply (bytes, or None for a missing value) as text."""
    if isinstance(value, bytes):
        return value.decode()
    return "" if value is None else str(value)


def event_to_wire(event: Event) -> list[Any]:
    return [event.type, dict(event.data), None if event.to is None else sorted(event.to)]


def event_from_wire(row: Sequence[Any]) -> Event:
    kind, data, to = row
    return Event(str(kind), dict(data), None if to is None else frozenset(to))


def events_from_wire(rows: list[Any]) -> list[Event]:
    # Connection ids in `_joined` are unique across nodes (the gateway prefixes its node id),
    # so another node's join can never be taken for one of this node's connections.
    return [event_from_wire(row) for row in rows]


def message_header(room_id: str, version: int, node_id: str, events: list[Event], *,
                   unchanged: bool = False,
                   bans: tuple[list[str], list[str]] | None = None,
                   delta: dict[str, Any] | None = None) -> bytes:
    header: dict[str, Any] = {"r": room_id, "v": version, "n": node_id,
                              "e": [event_to_wire(event) for event in events]}
    if unchanged:
        header["u"] = 1
    if delta is not None:
        header["d"] = delta
    if bans is not None and (bans[0] or bans[1]):
        header["b"] = [bans[0], bans[1]]
    return pack(header)


def bans_after(before: set[str], bans: Any) -> set[str]:
    """A room's bans after a commit whose header said `b: [banned, unbanned]` (or nothing)."""
    added, removed = bans if bans else ((), ())
    return (before | {as_text(u) for u in added}) - {as_text(u) for u in removed}


def room_blob(room: Room, head: dict[str, Any] | None = None) -> bytes:
    """What Redis keeps (and the channel carries) of a room: all but its bans (`head`: the
    room's `head_dict()`, when the caller has it already)."""
    return pack({**(room.head_dict() if head is None else head), "members": room.member_rows()})


def room_from_blob(blob: Any, bans: Any = ()) -> Room | None:
    """The room of a blob (None for an empty one), with the bans read beside it."""
    if not blob:
        return None
    room = Room.from_dict(unpack(blob))
    room.banned = {as_text(user) for user in bans or ()}
    return room


def parse_message(data: bytes) -> tuple[int, dict[str, Any], bytes]:
    """(seq, header, blob) of a channel message."""
    colon = data.index(b":")
    unpacker = msgpack.Unpacker(raw=False, strict_map_key=False)
    unpacker.feed(data[colon + 1:])
    header = unpacker.unpack()
    return int(data[:colon]), header, data[colon + 1 + unpacker.tell():]


def encode_cursor(score: float, room_id: str) -> str:
    return base64.urlsafe_b64encode(pack([score, room_id])).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[float, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        score, room_id = unpack(raw)
        value = float(score)
        if not math.isfinite(value):  # Redis refuses NaN as a score: the cursor is forged
            raise ValueError("not a finite score")
        return value, str(room_id)
    except (ValueError, TypeError, binascii.Error, msgpack.ExtraData) as exc:
        raise RoomError(
            ErrorCode.BAD_REQUEST, "cursor: not a cursor from list_rooms", field="cursor"
        ) from exc
