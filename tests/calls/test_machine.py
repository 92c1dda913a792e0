"""The call state machine, driven with no I/O: every cell of the table and its refusals."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from calls.errors import CallError, Stale
from calls.machine import (
    SYSTEM,
    TRANSITIONS,
    Actor,
    CallBack,
    CallEventType,
    Dropped,
    GraceExpired,
    Recipients,
    Returned,
    RingTimeout,
    apply,
    expire,
)
from calls.model import CallState, CallStatus, EndReason, Role
from protocol.errors import ErrorCode
from protocol.schema import AnswerCall, DeclineCall, Hangup
from tests.calls.callkit import ANN, BOB, BOB_DUOSHAN, EVE, T0, active, ringing

NOW = T0 + 5
ANSWER, DECLINE, HANGUP = AnswerCall("c1"), DeclineCall("c1"), Hangup("c1")
BOB_RINGS = Recipients(frozenset({"bob"}), frozenset({"douyin", "duoshan"}))
ANN_ALL = Recipients(frozenset({"ann"}))
BOB_ALL = Recipients(frozenset({"bob"}))


def events(out: Any) -> list[tuple[str, Recipients, str | None]]:
    return [(e.type.value, e.to, e.data.get("reason")) for e in out.events]


# (start, actor, command) -> (state after, reason, reply keys, events)
LEGAL: list[tuple[str, Actor, object, CallStatus, EndReason | None, set[str], list[Any]]] = [
    ("ringing", BOB, ANSWER, CallStatus.ACTIVE, None, {"call"}, [
        ("call_state", ANN_ALL, None),
        ("call_ended", replace(BOB_RINGS, except_conn="bob-1"), "answered_elsewhere")]),
    ("ringing", BOB_DUOSHAN, CallBack(), CallStatus.ACTIVE, None, {"call"}, [
        ("call_state", ANN_ALL, None),
        ("call_ended", replace(BOB_RINGS, except_conn="bob-2"), "answered_elsewhere")]),
    ("ringing", BOB, DECLINE, CallStatus.ENDED, EndReason.DECLINED, set(), [
        ("call_ended", ANN_ALL, "declined"),
        ("call_ended", replace(BOB_RINGS, except_conn="bob-1"), "declined")]),
    ("ringing", BOB, HANGUP, CallStatus.ENDED, EndReason.DECLINED, set(), [
        ("call_ended", ANN_ALL, "declined"),
        ("call_ended", replace(BOB_RINGS, except_conn="bob-1"), "declined")]),
    ("ringing", ANN, HANGUP, CallStatus.ENDED, EndReason.CANCELLED, set(), [
        ("call_ended", BOB_RINGS, "cancelled")]),
    ("active", ANN, HANGUP, CallStatus.ENDED, EndReason.HANGUP, set(), [
        ("call_ended", BOB_ALL, "hangup")]),
    ("active", BOB, HANGUP, CallStatus.ENDED, EndReason.HANGUP, set(), [
        ("call_ended", ANN_ALL, "hangup")]),
    ("ringing", ANN, Dropped(15), CallStatus.RINGING, None, set(), [
        ("call_state", BOB_RINGS, None)]),
    ("active", BOB, Dropped(15), CallStatus.ACTIVE, None, set(), [
        ("call_state", ANN_ALL, None)]),
]


@pytest.mark.parametrize(("start", "actor", "cmd", "state", "reason", "reply", "evs"), LEGAL)
def test_legal_moves(start: str, actor: Actor, cmd: object, state: CallStatus,
                     reason: EndReason | None, reply: set[str], evs: list[Any]) -> None:
    call = ringing() if start == "ringing" else active()
    out = apply(call, actor, cmd, NOW)
    assert out.call.state is state and out.call.reason is reason
    assert set(out.reply) == reply
    assert events(out) == evs
    assert call == (ringing() if start == "ringing" else active())  # unchanged
    if state is CallStatus.ENDED:
        assert out.call.ended_at == NOW
        assert out.call.next_deadline() is None
    for e in out.events:
        assert e.wire()["call"] == out.call.wire()


def test_answer_records_the_answering_connection() -> None:
    out = apply(ringing(), BOB, ANSWER, NOW)
    assert out.call.started_at == NOW and out.call.ring_deadline is None
    assert (out.call.callee.app, out.call.callee.conn) == ("douyin", "bob-1")
    assert out.reply["call"]["state"] == "active"


# (start, actor, command) -> the code refused with
REFUSED: list[tuple[str, Actor, object, ErrorCode]] = [
    ("ringing", EVE, ANSWER, ErrorCode.NO_SUCH_CALL),
    ("ringing", EVE, HANGUP, ErrorCode.NO_SUCH_CALL),
    ("active", EVE, DECLINE, ErrorCode.NO_SUCH_CALL),
    ("ringing", ANN, ANSWER, ErrorCode.FORBIDDEN),
    ("ringing", ANN, DECLINE, ErrorCode.FORBIDDEN),
    ("ringing", ANN, CallBack(), ErrorCode.FORBIDDEN),
    ("ringing", Actor("bob", "Bob", "main", "bob-9"), ANSWER, ErrorCode.FORBIDDEN),
    ("active", BOB, ANSWER, ErrorCode.ALREADY_IN_CALL),
    ("active", BOB, DECLINE, ErrorCode.ALREADY_IN_CALL),
    ("ended", BOB, ANSWER, ErrorCode.NO_SUCH_CALL),
    ("ended", ANN, HANGUP, ErrorCode.NO_SUCH_CALL),
    ("ended", BOB, DECLINE, ErrorCode.NO_SUCH_CALL),
    ("ringing", SYSTEM, ANSWER, ErrorCode.NO_SUCH_CALL),
]


def start_at(start: str) -> CallState:
    if start == "ended":
        return apply(active(), ANN, HANGUP, NOW).call
    return ringing() if start == "ringing" else active()


@pytest.mark.parametrize(("start", "actor", "cmd", "code"), REFUSED)
def test_refused_moves_raise_and_change_nothing(start: str, actor: Actor, cmd: object,
                                               code: ErrorCode) -> None:
    call = start_at(start)
    with pytest.raises(CallError) as info:
        apply(call, actor, cmd, NOW)
    assert info.value.code is code
    assert not isinstance(info.value, Stale)
    assert call == start_at(start)


STALE: list[tuple[str, Actor, object, float]] = [
    ("ringing", SYSTEM, RingTimeout(), T0 + 29),  # not due yet
    ("active", SYSTEM, RingTimeout(), T0 + 31),
    ("ended", SYSTEM, RingTimeout(), T0 + 31),
    ("active", ANN, Returned(), NOW),  # not away
    ("active", ANN, GraceExpired(), NOW),
    ("ended", ANN, Dropped(15), NOW),
]


@pytest.mark.parametrize(("start", "actor", "cmd", "now"), STALE)
def test_outdated_internal_commands_are_stale(start: str, actor: Actor, cmd: object,
                                              now: float) -> None:
    with pytest.raises(Stale):
        apply(start_at(start), actor, cmd, now)


def test_every_cell_is_a_live_state_and_a_known_command() -> None:
    for state, cmd, role in TRANSITIONS:
        assert state is not CallStatus.ENDED
        assert (role is Role.SYSTEM) == (cmd is RingTimeout)


def test_ring_timeout_ends_both_sides() -> None:
    call = ringing()
    assert call.next_deadline() == T0 + 30
    assert expire(call, T0 + 29.9) is None
    out = expire(call, T0 + 30)
    assert out is not None and out.call.reason is EndReason.NO_ANSWER
    assert events(out) == [("call_ended", ANN_ALL, "no_answer"),
                           ("call_ended", BOB_RINGS, "no_answer")]


def test_grace_then_back_then_grace_expired() -> None:
    call = active()
    away = apply(call, BOB, Dropped(15), NOW).call
    assert away.callee.away and away.callee.away_until == NOW + 15
    assert away.wire()["callee"]["away"] is True
    assert away.next_deadline() == NOW + 15
    with pytest.raises(Stale):
        apply(away, BOB, Dropped(15), NOW)  # away already
    back = apply(away, BOB, Returned(), NOW + 3)
    assert not back.call.callee.away and back.reply["call"]["callee"]["away"] is False
    assert events(back) == [("call_state", ANN_ALL, None)]
    with pytest.raises(Stale):
        apply(away, BOB, GraceExpired(), NOW + 14)
    lost = expire(away, NOW + 15)
    assert lost is not None and lost.call.reason is EndReason.CONNECTION_LOST
    assert {e.to for e in lost.events} == {ANN_ALL, BOB_ALL}
    assert expire(lost.call, NOW + 100) is None


def test_recipients_resolution() -> None:
    to = Recipients(frozenset({"bob"}), frozenset({"douyin"}), except_conn="bob-1")
    assert to.includes("bob", "douyin", "bob-2")
    assert not to.includes("bob", "douyin", "bob-1")
    assert not to.includes("bob", "duoshan", "bob-3")
    assert not to.includes("ann", "douyin", "ann-1")


def test_event_wire_shape() -> None:
    out = apply(ringing(), BOB, DECLINE, NOW)
    wire = out.events[0].wire()
    assert wire["type"] == "call_ended" and wire["reason"] == "declined"
    assert wire["call"]["state"] == "ended" and wire["call"]["reason"] == "declined"
    assert set(wire["call"]) == {"id", "state", "video", "caller", "callee", "kind",
                                 "started_at", "reason"}
    assert out.events[0].type is CallEventType.CALL_ENDED


def test_store_round_trip() -> None:
    for call in (ringing(), active(), apply(active(), BOB, Dropped(15), NOW).call):
        assert CallState.from_dict(call.to_dict()) == call


MOVES = st.lists(st.tuples(
    st.sampled_from([ANN, BOB, BOB_DUOSHAN, EVE, SYSTEM]),
    st.sampled_from([ANSWER, DECLINE, HANGUP, CallBack(), RingTimeout(), Dropped(15),
                     Returned(), GraceExpired()]),
    st.floats(0, 20)), max_size=25)


@given(MOVES)
def test_random_walks_keep_the_invariants(moves: list[tuple[Actor, object, float]]) -> None:
    call, now = ringing(), T0
    for actor, cmd, step in moves:
        now += step
        before = call
        try:
            out = apply(call, actor, cmd, now)
        except CallError:
            assert call == before
            continue
        call = out.call
        if before.state is CallStatus.ENDED:
            raise AssertionError("an ended call moved")
        # ringing -> active -> ended, never back.
        order = [CallStatus.RINGING, CallStatus.ACTIVE, CallStatus.ENDED]
        assert order.index(call.state) >= order.index(before.state)
        assert (call.reason is None) == (call.state is not CallStatus.ENDED)
        assert (call.started_at is None) == (call.state is CallStatus.RINGING
                                            or (before.started_at is None
                                            and call.state is CallStatus.ENDED))
        for e in out.events:
            assert e.to.users <= set(call.users)
