"""Events addressed to users rather than to a room's members: a call's (`call_incoming`,
`call_state`, `call_ended`, `match_found`) and personal ones (`followed`).

`UserEvent` is the wire map and its `Recipients` (calls.machine: users, optionally only their
connections of some apps, optionally all but one connection); a call's event also carries the
call after the change (the media follows it). On several nodes they travel on one channel
(`vr:user-events`, store/keys.py), a call's published in the same atomic step as its commit,
so every node sees a call's batches in commit order. A message is msgpack `{n: origin node,
c: call id | None, v: the call's version | None, s: CallState.to_dict() | None, e: [[wire,
users, apps | None, except_conn | None], ...]}`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from calls.machine import CallEvent, Recipients
from calls.model import CallState
from store.wire import pack, unpack


@dataclass(frozen=True, slots=True)
class UserEvent:
    wire: Mapping[str, Any]
    to: Recipients

    @classmethod
    def of_call(cls, event: CallEvent) -> UserEvent:
        return cls(event.wire(), event.to)


@dataclass(frozen=True, slots=True)
class UserBatch:
    """Events of one change, in order. For a call's change: the call after it (`call`, None
    for a personal batch) and the version the store gave it (orders batches of one call)."""

    events: Sequence[UserEvent]
    call: CallState | None = None
    version: int = 0
    origin: str = ""

    @classmethod
    def of_call(cls, call: CallState, version: int, events: Sequence[CallEvent],
                origin: str = "") -> UserBatch:
        return cls([UserEvent.of_call(e) for e in events], call, version, origin)


def _recipients_to_wire(to: Recipients) -> list[Any]:
    return [sorted(to.users), None if to.apps is None else sorted(to.apps), to.except_conn]


def pack_batch(batch: UserBatch, node_id: str) -> bytes:
    return pack({
        "n": node_id,
        "c": None if batch.call is None else batch.call.id,
        "v": batch.version,
        "s": None if batch.call is None else batch.call.to_dict(),
        "e": [[dict(e.wire), *_recipients_to_wire(e.to)] for e in batch.events],
    })


def unpack_batch(data: bytes) -> UserBatch:
    """The batch of a channel message; ValueError/KeyError/TypeError for a malformed one."""
    message = unpack(data)
    events = []
    for wire, users, apps, except_conn in message["e"]:
        if not isinstance(wire, dict):
            raise ValueError("an event's wire form must be a map")
        to = Recipients(frozenset(str(u) for u in users),
                        None if apps is None else frozenset(str(a) for a in apps),
                        None if except_conn is None else str(except_conn))
        events.append(UserEvent(wire, to))
    state = message.get("s")
    call = CallState.from_dict(state) if state else None
    return UserBatch(events, call, int(message.get("v") or 0), str(message["n"]))


def notice(call: CallState) -> UserBatch:
    """`call_state` to both parties, outside the call's sequence (version 0: every node
    delivers it whatever it delivered before): the call's media moved, offer again."""
    event = UserEvent({"type": "call_state", "call": call.wire()},
                      Recipients(frozenset(call.users)))
    return UserBatch([event], None, 0)
