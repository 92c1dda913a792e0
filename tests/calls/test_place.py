"""Placing a call and starting a match: PROTOCOL.md's order of `call` errors, call-back."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from calls.errors import CallError
from calls.machine import Actor, MatchSide, Recipients, apply, start_match
from calls.model import CallKind, CallStatus
from protocol.errors import PRECEDENCE, ErrorCode
from protocol.schema import AnswerCall
from tests.calls.callkit import ANN, BOB, T0, active, dial, ringing

ACTIVE_WITH_EVE = replace(active(), id="c0", callee=replace(active().callee, user="eve"))
BOB_WITH_EVE = replace(ACTIVE_WITH_EVE, caller=replace(ACTIVE_WITH_EVE.caller, user="bob"))


def test_a_call_rings_the_policys_apps() -> None:
    out = dial()
    call = out.call
    assert call.state is CallStatus.RINGING and call.kind is CallKind.FRIEND
    assert call.rings_in == ("douyin", "duoshan") and call.ring_deadline == T0 + 30
    assert out.reply == {"call": call.wire()}
    assert call.wire()["caller"] == {"user": "ann", "name": "Ann", "app": "duoshan",
                                     "away": False}
    [ev] = out.events
    assert ev.type.value == "call_incoming"
    assert ev.to == Recipients(frozenset({"bob"}), frozenset({"douyin", "duoshan"}))


# (overrides, code): each row breaks one rule; a later rule's breach is added to show order.
CASES: list[tuple[dict[str, Any], ErrorCode]] = [
    ({"callee": "ann", "friends": False}, ErrorCode.BAD_REQUEST),
    ({"caller": replace(ANN, app="main"), "friends": False}, ErrorCode.FORBIDDEN),
    ({"caller_calls": [ACTIVE_WITH_EVE], "friends": False}, ErrorCode.ALREADY_IN_CALL),
    ({"caller_calls": [replace(ringing(), id="c0", callee=replace(ringing().callee,
                                                                   user="eve"))],
      "blocked": True}, ErrorCode.ALREADY_IN_CALL),
    ({"friends": False, "callee_apps_online": set()}, ErrorCode.NOT_FRIENDS),
    ({"blocked": True, "callee_apps_online": set()}, ErrorCode.NOT_FRIENDS),
    ({"callee_name": None, "callee_apps_online": set()}, ErrorCode.NOT_FRIENDS),
    ({"callee_apps_online": {"main"}, "callee_calls": [BOB_WITH_EVE]}, ErrorCode.USER_OFFLINE),
    ({"callee_calls": [BOB_WITH_EVE]}, ErrorCode.BUSY),
]


@pytest.mark.parametrize(("overrides", "code"), CASES)
def test_call_errors_in_protocol_order(overrides: dict[str, Any], code: ErrorCode) -> None:
    kw = dict(overrides)
    callee = kw.pop("callee", "bob")
    with pytest.raises(CallError) as info:
        dial(callee=callee, **kw)
    assert info.value.code is code


def test_call_codes_follow_the_v1_state_errors() -> None:
    order = [PRECEDENCE.index(c) for c in (ErrorCode.ALREADY_IN_CALL, ErrorCode.NOT_FRIENDS,
                                           ErrorCode.USER_OFFLINE, ErrorCode.BUSY)]
    assert order == sorted(order)
    assert order[0] > PRECEDENCE.index(ErrorCode.NO_SUCH_REQUEST)
    assert PRECEDENCE.index(ErrorCode.FORBIDDEN) < PRECEDENCE.index(ErrorCode.NOT_VERIFIED)


def test_douyin_cannot_call_back_until_friends_there() -> None:
    # The seed's one-way rule: friends in Duoshan, not (yet) in Douyin.
    assert dial(ANN, "bob", friends=True).call.rings_in == ("douyin", "duoshan")
    with pytest.raises(CallError) as info:
        dial(BOB, "ann", friends=False)
    assert info.value.code is ErrorCode.NOT_FRIENDS
    assert dial(BOB, "ann", friends=True).call.rings_in == ("douyin",)


def test_calling_back_a_ringing_caller_answers_that_call() -> None:
    first = ringing()
    # Bob calls Ann from Douyin where they are not friends: it answers Ann's ringing call.
    out = dial(BOB, "ann", call_id="c2", friends=False, caller_calls=[first],
               callee_apps_online=set())
    assert out.call.id == first.id and out.call.state is CallStatus.ACTIVE
    assert out.reply["call"]["state"] == "active"
    assert [e.type.value for e in out.events] == ["call_state", "call_ended"]
    assert out.events[0].to.users == {"ann"}


def test_no_call_back_across_a_block() -> None:
    with pytest.raises(CallError) as info:
        dial(BOB, "ann", call_id="c2", blocked=True, caller_calls=[ringing()])
    assert info.value.code is ErrorCode.NOT_FRIENDS


def test_ringing_in_does_not_keep_a_user_from_calling_someone_else() -> None:
    incoming = ringing()  # ann -> bob, ringing
    out = dial(BOB, "eve", call_id="c2", caller_calls=[incoming])
    assert out.call.state is CallStatus.RINGING and out.call.callee.user == "eve"


def test_policy_anyone_drops_the_friend_check() -> None:
    from calls.policy import AppPolicy
    policy = AppPolicy.from_json('{"apps": {"main": {"calls_need": "anyone", '
                                 '"rings_in": ["main"]}}}')
    main = Actor("ann", "Ann", "main", "a1")
    assert dial(main, "bob", policy=policy, friends=False,
                callee_apps_online={"main"}).call.state is CallStatus.RINGING


def test_match_call_is_active_at_once_and_each_sees_the_other() -> None:
    a = MatchSide(Actor("ann", "Ann", "main", "a1"), {"user": "ann", "city": "Lhasa"})
    b = MatchSide(Actor("bob", "Bob", "main", "b1"), {"user": "bob", "city": None})
    out = start_match("m1", a, b, T0)
    call = out.call
    assert call.state is CallStatus.ACTIVE and call.kind is CallKind.MATCH
    assert call.started_at == T0 and out.reply == {}
    peers = {next(iter(e.to.users)): e.data["peer"]["user"] for e in out.events}
    assert peers == {"ann": "bob", "bob": "ann"}
    assert all(e.type.value == "match_found" for e in out.events)
    with pytest.raises(CallError) as info:
        apply(call, Actor("bob"), AnswerCall("m1"), T0)
    assert info.value.code is ErrorCode.ALREADY_IN_CALL
    with pytest.raises(ValueError):
        start_match("m2", a, a, T0)
