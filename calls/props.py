"""Props in a call: who may, and what a voice effect does to the call (PURE).

docs/protocol.md "Props": in a call, either party may set their own voice effect, play a
sound, roll dice or draw a card, once the call is active. Someone who is not a party gets
`no_such_call` (as for every call verb: a call one is not party to does not exist for them),
a party of a call still ringing `forbidden`. Music is for rooms only: it never reaches a call.

A voice effect is call state (`CallState.effects`), committed like any change of the call, so
both parties and the node holding the call's media see it; sounds, dice and cards are events.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from calls.errors import CallError
from calls.model import CallState, CallStatus
from protocol.errors import ErrorCode

NO_EFFECT = "none"


def check_party(call: CallState | None, call_id: str, user: str) -> CallState:
    """The call, if `user` may use props in it; else `CallError`."""
    if call is None or call.role_of(user) is None:
        raise CallError(ErrorCode.NO_SUCH_CALL, f"no call {call_id!r}", field="call")
    if call.state is not CallStatus.ACTIVE:
        raise CallError(ErrorCode.FORBIDDEN, "props come with an active call: this one is "
                        "not answered yet")
    return call


def with_effect(call: CallState, user: str, effect: str) -> CallState | None:
    """The call with `user`'s voice effect set, or None when it is that already."""
    if call.effect_of(user) == effect:
        return None
    effects = {**dict(call.effects), user: effect}
    if effect == NO_EFFECT:
        del effects[user]
    return replace(call, effects=tuple(sorted(effects.items())))


def event(kind: str, call_id: str, data: dict[str, Any]) -> dict[str, Any]:
    """A props event of a call on the wire: it carries the call's id (docs/protocol.md)."""
    return {**data, "type": kind, "call": call_id}
