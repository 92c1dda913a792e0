"""Builders for the three server-to-client wire shapes: reply ok, reply error, event.

Events come in three kinds (PROTOCOL.md): a room's (`room`: its id), a call's (`call`: the
whole CallState, or for a props event in a call the call's id) and a personal one such as
`followed` (neither).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from protocol.errors import ErrorCode, ProtocolError
from protocol.validate import RequestError


def ok(id: int, **result: Any) -> dict[str, Any]:
    """`{"id": id, "type": "ok", ...result}`."""
    return {**result, "id": id, "type": "ok"}


def error(id: int | None, code: ErrorCode | str, message: str) -> dict[str, Any]:
    """`{"id": id, "type": "error", "code", "message"}`; no `id` key when id is None."""
    msg: dict[str, Any] = {"type": "error", "code": str(code), "message": message}
    if id is not None:
        msg["id"] = id
    return msg


def error_from(exc: ProtocolError, id: int | None = None) -> dict[str, Any]:
    """The error reply for a refused request; a RequestError carries its own id."""
    rid = exc.id if isinstance(exc, RequestError) else id
    return error(rid, exc.code, exc.message)


def event(type: str, room: str, **data: Any) -> dict[str, Any]:
    """`{"type": type, "room": room, ...data}` (events carry no id)."""
    return {**data, "type": type, "room": room}


def call_event(type: str, call: Mapping[str, Any] | str, **data: Any) -> dict[str, Any]:
    """`{"type": type, "call": call, ...data}`: `call` is the CallState's wire form for an
    event of the call's life, or the call id for a props event in a call."""
    return {**data, "type": type, "call": call if isinstance(call, str) else dict(call)}


def personal_event(type: str, **data: Any) -> dict[str, Any]:
    """`{"type": type, ...data}`: an event about the user, in no room or call (`followed`)."""
    return {**data, "type": type}
