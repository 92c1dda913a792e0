"""The values the call machine (`calls.machine`) takes and gives.

Who acts (`Actor`, `SYSTEM` for timers), who an event is for (`Recipients`), the events and
the `Outcome` of a command, and the internal commands the server sends (timers, drops).
`calls.machine` re-exports them all. PURE: plain frozen values.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from calls.model import CallState
from protocol.schema import AnswerCall, DeclineCall, Hangup


@dataclass(frozen=True, slots=True)
class Actor:
    """Who sends a command: the user, their display name, their connection's app and id.

    `SYSTEM` sends the timers' commands."""

    user: str
    name: str = ""
    app: str | None = None
    conn: str | None = None


SYSTEM = Actor("")


class CallEventType(StrEnum):
    CALL_INCOMING = "call_incoming"
    CALL_STATE = "call_state"
    CALL_ENDED = "call_ended"
    MATCH_FOUND = "match_found"


@dataclass(frozen=True, slots=True)
class Recipients:
    """Who gets an event: the connections of `users`, only those of an app in `apps` (None:
    any app), except the connection `except_conn` (the one the reply went to)."""

    users: frozenset[str]
    apps: frozenset[str] | None = None
    except_conn: str | None = None

    def includes(self, user: str, app: str, conn: str) -> bool:
        """Does a connection `conn` of `user` in `app` get the event?"""
        return (user in self.users and (self.apps is None or app in self.apps)
                and conn != self.except_conn)


@dataclass(frozen=True, slots=True)
class CallEvent:
    """An event of a call's life; `data` is what the wire adds beside `call` (`reason`,
    `peer`)."""

    type: CallEventType
    call: CallState
    to: Recipients
    data: Mapping[str, Any] = field(default_factory=dict)

    def wire(self) -> dict[str, Any]:
        return {**self.data, "type": self.type.value, "call": self.call.wire()}


@dataclass(frozen=True, slots=True)
class Outcome:
    """The call after a command, the reply's result fields, the events in order."""

    call: CallState
    reply: dict[str, Any]
    events: list[CallEvent]


# Internal commands: sent by the server, never by a client.


@dataclass(frozen=True, slots=True)
class CallBack:
    """The callee of this ringing call called its caller: that answers this call."""


@dataclass(frozen=True, slots=True)
class RingTimeout:
    """The ring deadline passed (actor: SYSTEM)."""


@dataclass(frozen=True, slots=True)
class Dropped:
    """The actor's last connection dropped: held `grace` seconds."""

    grace: float


@dataclass(frozen=True, slots=True)
class Returned:
    """The away actor has a connection again."""


@dataclass(frozen=True, slots=True)
class GraceExpired:
    """The actor's grace passed while away (actor: the away party)."""


CallCommand = AnswerCall | DeclineCall | Hangup | CallBack | RingTimeout | Dropped | Returned \
    | GraceExpired
