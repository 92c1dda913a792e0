"""A one-to-one call as a value: its parties, its state, its deadlines, its wire form.

PROTOCOL.md's CallState is `{id, state, video, caller: {user, name, app}, callee: {user,
name}, kind, started_at|null, reason|null}`; the wire form adds each party's `away`. The
rest (connections, the apps that ring, deadlines) is the server's, kept by the stores with
`to_dict`/`from_dict` and never sent.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any


class CallStatus(StrEnum):
    RINGING = "ringing"
    ACTIVE = "active"
    ENDED = "ended"


class CallKind(StrEnum):
    FRIEND = "friend"
    MATCH = "match"


class EndReason(StrEnum):
    """Why a call ended (its `reason`), or, for `answered_elsewhere`, why one of the
    callee's connections stopped ringing (a `call_ended` event's reason only)."""

    DECLINED = "declined"
    CANCELLED = "cancelled"
    HANGUP = "hangup"
    NO_ANSWER = "no_answer"
    CONNECTION_LOST = "connection_lost"
    ANSWERED_ELSEWHERE = "answered_elsewhere"


class Role(StrEnum):
    """Who sends a command to a call."""

    CALLER = "caller"
    CALLEE = "callee"
    SYSTEM = "system"  # the server's timers

    def other(self) -> Role:
        """The other party's role (a party's only)."""
        if self is Role.SYSTEM:
            raise ValueError("the system has no other side")
        return Role.CALLEE if self is Role.CALLER else Role.CALLER


@dataclass(frozen=True, slots=True)
class Party:
    """One side of a call.

    `app` is the caller's app, and for the callee the app of the connection that answered
    (None while ringing). `conn` is the connection the party talks through: the one that
    placed or answered the call (a match: the one that joined). `away_until` is set while
    `away` (the party's last connection dropped; the grace ends then).
    """

    user: str
    name: str
    app: str | None = None
    conn: str | None = None
    away: bool = False
    away_until: float | None = None


@dataclass(frozen=True, slots=True)
class CallState:
    id: str
    state: CallStatus
    video: bool
    caller: Party
    callee: Party
    kind: CallKind
    created_at: float
    started_at: float | None = None
    ended_at: float | None = None
    reason: EndReason | None = None
    rings_in: tuple[str, ...] = ()
    """The apps whose connections of the callee ring (the policy's `rings_in` for the
    caller's app, fixed when the call is placed)."""
    ring_deadline: float | None = None
    effects: tuple[tuple[str, str], ...] = ()
    """(user, voice effect) of each party whose effect is not `none` (calls/props.py)."""

    # -- reading ---------------------------------------------------------------------------

    def role_of(self, user: str) -> Role | None:
        if user == self.caller.user:
            return Role.CALLER
        if user == self.callee.user:
            return Role.CALLEE
        return None

    def party(self, role: Role) -> Party:
        if role is Role.CALLER:
            return self.caller
        if role is Role.CALLEE:
            return self.callee
        raise ValueError("the system is no party")

    def other(self, role: Role) -> Party:
        return self.callee if role is Role.CALLER else self.caller

    @property
    def users(self) -> tuple[str, str]:
        return self.caller.user, self.callee.user

    def effect_of(self, user: str) -> str:
        return dict(self.effects).get(user, "none")

    @property
    def live(self) -> bool:
        """Not ended: ringing or active."""
        return self.state is not CallStatus.ENDED

    def next_deadline(self) -> float | None:
        """When something is due (ring timeout, a party's grace), or None."""
        times = [p.away_until for p in (self.caller, self.callee)
                 if p.away and p.away_until is not None]
        if self.state is CallStatus.RINGING and self.ring_deadline is not None:
            times.append(self.ring_deadline)
        return min(times) if self.live and times else None

    # -- forms -----------------------------------------------------------------------------

    def wire(self) -> dict[str, Any]:
        wire: dict[str, Any] = {
            "id": self.id,
            "state": self.state.value,
            "video": self.video,
            "caller": {"user": self.caller.user, "name": self.caller.name,
                       "app": self.caller.app, "away": self.caller.away},
            "callee": {"user": self.callee.user, "name": self.callee.name,
                       "away": self.callee.away},
            "kind": self.kind.value,
            "started_at": self.started_at,
            "reason": None if self.reason is None else self.reason.value,
        }
        if self.effects:  # once a party took a voice effect (docs/protocol.md "Props")
            wire["effects"] = dict(self.effects)
        return wire

    def to_dict(self) -> dict[str, Any]:
        """Everything, as plain JSON/MessagePack data (for the stores)."""
        out = asdict(self)
        out["state"] = self.state.value
        out["kind"] = self.kind.value
        out["reason"] = None if self.reason is None else self.reason.value
        out["rings_in"] = list(self.rings_in)
        out["effects"] = [list(pair) for pair in self.effects]
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CallState:
        return cls(
            id=data["id"],
            state=CallStatus(data["state"]),
            video=bool(data["video"]),
            caller=Party(**data["caller"]),
            callee=Party(**data["callee"]),
            kind=CallKind(data["kind"]),
            created_at=data["created_at"],
            started_at=data.get("started_at"),
            ended_at=data.get("ended_at"),
            reason=None if data.get("reason") is None else EndReason(data["reason"]),
            rings_in=tuple(data.get("rings_in") or ()),
            ring_deadline=data.get("ring_deadline"),
            effects=tuple((str(user), str(effect)) for user, effect in data.get("effects") or ()),
        )
