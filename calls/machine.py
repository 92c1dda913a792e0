"""The call state machine: ringing -> active -> ended, every transition in one table.

PURE: no I/O, no clock (callers pass `now`). `apply(call, actor, command, now)` returns an
`Outcome` (the call after it, the reply's fields, the events), or raises `CallError` and
changes nothing, h11 style: `TRANSITIONS` maps `(state, command type, role)` to the one
handler allowed to run; any other move is refused by `_refuse`, which picks the wire code.
Internal commands (timers, drops) that no longer apply raise `Stale`, which the server
ignores.

Placing a call (`place_call`) and starting a match (`start_match`) make new calls; the
checks of `call` that need more than one call (the caller's other calls, friendship,
presence) are made there, in PROTOCOL.md's order, from plain values the service gathers.

Events name their recipients as a `Recipients` value (users, optionally only their
connections of some apps, optionally all but one connection); the server resolves it
against its connections. These values, the events, the `Outcome` and the internal commands
are in `calls.values`, re-exported here.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from calls.errors import CallError, Stale
from calls.model import CallKind, CallState, CallStatus, EndReason, Party, Role
from calls.policy import AppPolicy
from calls.values import (
    SYSTEM,
    Actor,
    CallBack,
    CallCommand,
    CallEvent,
    CallEventType,
    Dropped,
    GraceExpired,
    Outcome,
    Recipients,
    Returned,
    RingTimeout,
)
from protocol.errors import ErrorCode
from protocol.schema import AnswerCall, DeclineCall, Hangup

# The values of `calls.values` are imported from here too, with the machine's own names.
__all__ = [
    "DEFAULT_RING_TIMEOUT", "SYSTEM", "TRANSITIONS", "Actor", "CallBack", "CallCommand",
    "CallEvent", "CallEventType", "Dropped", "GraceExpired", "Handler", "MatchSide", "Outcome",
    "Recipients", "Returned", "RingTimeout", "apply", "expire", "place_call", "start_match",
]

DEFAULT_RING_TIMEOUT = 30.0
"""Seconds a call rings before it ends with `no_answer` (a server setting)."""


# -- recipients ------------------------------------------------------------------------------


def _all_of(party: Party) -> Recipients:
    return Recipients(frozenset({party.user}))


def _ringing(call: CallState, except_conn: str | None = None) -> Recipients:
    """The callee's connections that ring for this call."""
    return Recipients(frozenset({call.callee.user}), frozenset(call.rings_in), except_conn)


def _reach(call: CallState, role: Role) -> Recipients:
    """Where a party is reached: a ringing callee on its ringing apps, else everywhere."""
    if role is Role.CALLEE and call.state is CallStatus.RINGING:
        return _ringing(call)
    return _all_of(call.party(role))


def _ended(call: CallState, to: Recipients, reason: EndReason) -> CallEvent:
    return CallEvent(CallEventType.CALL_ENDED, call, to, {"reason": reason.value})


def _state(call: CallState, to: Recipients) -> CallEvent:
    return CallEvent(CallEventType.CALL_STATE, call, to)


# -- handlers ----------------------------------------------------------------------------------

Handler = Callable[[CallState, Actor, Role, Any, float], Outcome]


def _end(call: CallState, reason: EndReason, now: float) -> CallState:
    return replace(call, state=CallStatus.ENDED, reason=reason, ended_at=now)


def _answer(call: CallState, actor: Actor, role: Role, cmd: Any, now: float) -> Outcome:
    if isinstance(cmd, AnswerCall) and actor.app not in call.rings_in:
        raise CallError(ErrorCode.FORBIDDEN,
                        "this call does not ring in this app; answer it where it rings")
    callee = replace(call.callee, app=actor.app, conn=actor.conn)
    after = replace(call, state=CallStatus.ACTIVE, started_at=now, callee=callee,
                    ring_deadline=None)
    return Outcome(after, {"call": after.wire()}, [
        _state(after, _all_of(after.caller)),
        _ended(after, _ringing(call, actor.conn), EndReason.ANSWERED_ELSEWHERE),
    ])


def _decline(call: CallState, actor: Actor, role: Role, cmd: Any, now: float) -> Outcome:
    after = _end(call, EndReason.DECLINED, now)
    return Outcome(after, {}, [
        _ended(after, _all_of(call.caller), EndReason.DECLINED),
        _ended(after, _ringing(call, actor.conn), EndReason.DECLINED),
    ])


def _cancel(call: CallState, actor: Actor, role: Role, cmd: Any, now: float) -> Outcome:
    after = _end(call, EndReason.CANCELLED, now)
    return Outcome(after, {}, [_ended(after, _ringing(call), EndReason.CANCELLED)])


def _hangup(call: CallState, actor: Actor, role: Role, cmd: Any, now: float) -> Outcome:
    after = _end(call, EndReason.HANGUP, now)
    return Outcome(after, {}, [_ended(after, _all_of(call.other(role)), EndReason.HANGUP)])


def _no_answer(call: CallState, actor: Actor, role: Role, cmd: Any, now: float) -> Outcome:
    if call.ring_deadline is None or now < call.ring_deadline:
        raise Stale("the ring deadline has not passed")
    after = _end(call, EndReason.NO_ANSWER, now)
    return Outcome(after, {}, [
        _ended(after, _all_of(call.caller), EndReason.NO_ANSWER),
        _ended(after, _ringing(call), EndReason.NO_ANSWER),
    ])


def _with_party(call: CallState, role: Role, party: Party) -> CallState:
    return replace(call, caller=party) if role is Role.CALLER else replace(call, callee=party)


def _away(call: CallState, actor: Actor, role: Role, cmd: Any, now: float) -> Outcome:
    party = call.party(role)
    if party.away:
        raise Stale("the party is away already")
    after = _with_party(call, role, replace(party, away=True, away_until=now + cmd.grace))
    return Outcome(after, {}, [_state(after, _reach(after, role.other()))])


def _back(call: CallState, actor: Actor, role: Role, cmd: Any, now: float) -> Outcome:
    party = call.party(role)
    if not party.away:
        raise Stale("the party is not away")
    after = _with_party(call, role, replace(party, away=False, away_until=None))
    return Outcome(after, {"call": after.wire()}, [_state(after, _reach(after, role.other()))])


def _lost(call: CallState, actor: Actor, role: Role, cmd: Any, now: float) -> Outcome:
    party = call.party(role)
    if not party.away or party.away_until is None or now < party.away_until:
        raise Stale("the party's grace has not passed")
    after = _end(call, EndReason.CONNECTION_LOST, now)
    return Outcome(after, {}, [
        _ended(after, _reach(call, role.other()), EndReason.CONNECTION_LOST),
        _ended(after, _reach(call, role), EndReason.CONNECTION_LOST),
    ])


_R, _A = CallStatus.RINGING, CallStatus.ACTIVE
_CALLER, _CALLEE, _SYS = Role.CALLER, Role.CALLEE, Role.SYSTEM

# Every legal move. Anything else is refused (see `_refuse`) and changes nothing.
TRANSITIONS: dict[tuple[CallStatus, type, Role], Handler] = {
    (_R, AnswerCall, _CALLEE): _answer,
    (_R, CallBack, _CALLEE): _answer,
    (_R, DeclineCall, _CALLEE): _decline,
    (_R, Hangup, _CALLEE): _decline,  # a callee's hangup while ringing is a decline
    (_R, Hangup, _CALLER): _cancel,
    (_A, Hangup, _CALLER): _hangup,
    (_A, Hangup, _CALLEE): _hangup,
    (_R, RingTimeout, _SYS): _no_answer,
    (_R, Dropped, _CALLER): _away,
    (_R, Dropped, _CALLEE): _away,
    (_A, Dropped, _CALLER): _away,
    (_A, Dropped, _CALLEE): _away,
    (_R, Returned, _CALLER): _back,
    (_R, Returned, _CALLEE): _back,
    (_A, Returned, _CALLER): _back,
    (_A, Returned, _CALLEE): _back,
    (_R, GraceExpired, _CALLER): _lost,
    (_R, GraceExpired, _CALLEE): _lost,
    (_A, GraceExpired, _CALLER): _lost,
    (_A, GraceExpired, _CALLEE): _lost,
}

_INTERNAL = (CallBack, RingTimeout, Dropped, Returned, GraceExpired)


def _refuse(call: CallState, role: Role | None, cmd: object) -> CallError:
    """The error for a move the table does not allow."""
    if isinstance(cmd, _INTERNAL) and not isinstance(cmd, CallBack):
        return Stale(f"{type(cmd).__name__} does not apply to a {call.state} call")
    if role is None or role is Role.SYSTEM or call.state is CallStatus.ENDED:
        # An ended call is gone for its parties too (list_calls no longer shows it).
        return CallError(ErrorCode.NO_SUCH_CALL, f"no call {call.id!r}", field="call")
    if role is Role.CALLER and isinstance(cmd, AnswerCall | DeclineCall | CallBack):
        return CallError(ErrorCode.FORBIDDEN, "only the callee may answer or decline")
    # The callee answering or declining a call that is already on.
    return CallError(ErrorCode.ALREADY_IN_CALL, "the call was answered already")


def apply(call: CallState, actor: Actor, command: object, now: float) -> Outcome:
    """Apply one command to a call; `call` itself is never changed."""
    role = Role.SYSTEM if actor is SYSTEM or actor.user == "" else call.role_of(actor.user)
    handler = TRANSITIONS.get((call.state, type(command), role)) if role else None
    if handler is None or role is None:
        raise _refuse(call, role, command)
    return handler(call, actor, role, command, now)


def expire(call: CallState, now: float) -> Outcome | None:
    """Apply whatever is due at `now` (the ring timeout, else the earliest lapsed grace)."""
    if not call.live:
        return None
    if call.state is CallStatus.RINGING and call.ring_deadline is not None \
            and now >= call.ring_deadline:
        return apply(call, SYSTEM, RingTimeout(), now)
    for party in sorted((call.caller, call.callee), key=lambda p: p.away_until or 0.0):
        if party.away and party.away_until is not None and now >= party.away_until:
            return apply(call, Actor(party.user), GraceExpired(), now)
    return None


# -- new calls -------------------------------------------------------------------------------


def _busy_out(calls: Iterable[CallState], user: str) -> bool:
    """Is `user` ringing out or in an active call? (`already_in_call` for a caller.)"""
    return any(
        c.live and user in c.users
        and (c.state is CallStatus.ACTIVE or c.caller.user == user)
        for c in calls
    )


def place_call(
    *,
    call_id: str,
    caller: Actor,
    callee_user: str,
    callee_name: str | None,
    video: bool,
    now: float,
    policy: AppPolicy,
    friends: bool,
    blocked: bool,
    callee_apps_online: Collection[str],
    caller_calls: Iterable[CallState],
    callee_calls: Iterable[CallState],
    ring_timeout: float = DEFAULT_RING_TIMEOUT,
) -> Outcome:
    """The `call` request, checked in PROTOCOL.md's order.

    The service gathers: `callee_name` (None: unknown user), `friends` (mutual follow in the
    caller's app's graph), `blocked` (a block either way), the apps of the callee's open
    connections, and the live calls of each side. Errors: calling oneself `bad_request`; an
    app the policy does not name `forbidden`; then `already_in_call`, `not_friends` (policy
    refused, unknown user or a block: a blocked caller cannot tell), `user_offline`, `busy`.
    When the callee's own call to the caller is still ringing, that call is answered
    instead (the reply is that call, `active`), whatever the policy says of the caller's
    app: both wanted to talk, and the callee could have answered it anyway.
    """
    if callee_user == caller.user:
        raise CallError(ErrorCode.BAD_REQUEST, "field 'user' must be someone else",
                        field="user")
    rings_in = policy.rings_in(caller.app or "")
    caller_calls = list(caller_calls)
    if _busy_out(caller_calls, caller.user):
        raise CallError(ErrorCode.ALREADY_IN_CALL, "you are in a call or calling already")
    if not blocked:
        for c in caller_calls:
            if (c.state is CallStatus.RINGING and c.caller.user == callee_user
                    and c.callee.user == caller.user):
                return apply(c, caller, CallBack(), now)
    if callee_name is None or blocked or not policy.may_call(caller.app or "", friends):
        raise CallError(ErrorCode.NOT_FRIENDS, "you can only call your friends")
    if not rings_in & set(callee_apps_online):
        raise CallError(ErrorCode.USER_OFFLINE, f"{callee_user} is not online")
    if any(c.state is CallStatus.ACTIVE and callee_user in c.users for c in callee_calls):
        raise CallError(ErrorCode.BUSY, f"{callee_user} is in another call")
    call = CallState(
        id=call_id,
        state=CallStatus.RINGING,
        video=video,
        caller=Party(caller.user, caller.name, caller.app, caller.conn),
        callee=Party(callee_user, callee_name),
        kind=CallKind.FRIEND,
        created_at=now,
        rings_in=tuple(sorted(rings_in)),
        ring_deadline=now + ring_timeout,
    )
    return Outcome(call, {"call": call.wire()},
                   [CallEvent(CallEventType.CALL_INCOMING, call, _ringing(call))])


@dataclass(frozen=True, slots=True)
class MatchSide:
    """One side of a match: who, through which connection, and the card the peer sees
    (`{user, name, city, tags}`, social.profile.Profile.card)."""

    actor: Actor
    card: Mapping[str, Any]


def start_match(call_id: str, first: MatchSide, second: MatchSide, now: float, *,
                video: bool = False) -> Outcome:
    """A match's call, `active` at once (`kind: match`); each side gets `match_found
    {call, peer}` with the other's card. No reply: nobody asked (both had `match_join`ed)."""
    if first.actor.user == second.actor.user:
        raise ValueError("a user cannot be matched with themself")
    a, b = first.actor, second.actor
    call = CallState(
        id=call_id,
        state=CallStatus.ACTIVE,
        video=video,
        caller=Party(a.user, a.name, a.app, a.conn),
        callee=Party(b.user, b.name, b.app, b.conn),
        kind=CallKind.MATCH,
        created_at=now,
        started_at=now,
    )
    return Outcome(call, {}, [
        CallEvent(CallEventType.MATCH_FOUND, call, _all_of(call.caller),
                  {"peer": dict(second.card)}),
        CallEvent(CallEventType.MATCH_FOUND, call, _all_of(call.callee),
                  {"peer": dict(first.card)}),
    ])
