"""Builders for the call tests: a ringing or active call between ann (caller) and bob."""

from __future__ import annotations

from dataclasses import replace

from calls.machine import Actor, Outcome, place_call
from calls.model import CallState, CallStatus
from calls.policy import AppPolicy

POLICY = AppPolicy.from_json(
    '{"apps": {"douyin": {"calls_need": "friends", "rings_in": ["douyin"]},'
    ' "duoshan": {"calls_need": "friends", "rings_in": ["duoshan", "douyin"]}}}'
)
ANN = Actor("ann", "Ann", "duoshan", "ann-1")
BOB = Actor("bob", "Bob", "douyin", "bob-1")
BOB_DUOSHAN = Actor("bob", "Bob", "duoshan", "bob-2")
EVE = Actor("eve", "Eve", "douyin", "eve-1")
T0 = 1000.0


def dial(caller: Actor = ANN, callee: str = "bob", *, now: float = T0, **kw: object) -> Outcome:
    args: dict[str, object] = {
        "call_id": "c1", "caller": caller, "callee_user": callee,
        "callee_name": callee.title(), "video": False, "now": now, "policy": POLICY,
        "friends": True, "blocked": False, "callee_apps_online": {"douyin", "duoshan"},
        "caller_calls": [], "callee_calls": [],
    }
    args.update(kw)
    return place_call(**args)  # type: ignore[arg-type]


def ringing() -> CallState:
    return dial().call


def active() -> CallState:
    call = ringing()
    return replace(call, state=CallStatus.ACTIVE, started_at=T0 + 1,
                   callee=replace(call.callee, app="douyin", conn="bob-1"),
                   ring_deadline=None)
