"""The CallStore contract (store/calls.py): MemoryCalls and RedisCalls (a real redis-server)
through the same tests. Calls are made by `calls/`'s own machine, as the service makes them."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import replace

import pytest

from calls.errors import CallError
from calls.machine import Actor, apply, place_call, start_match
from calls.machine import MatchSide as Side
from calls.model import CallState, CallStatus
from calls.policy import AppPolicy
from protocol.schema import AnswerCall, Hangup
from store.base import Conflict
from store.calls import CallStore, MemoryCalls, StoredCall

POLICY = AppPolicy.default()
T0 = 1000.0


@contextlib.asynccontextmanager
async def _store(kind: str) -> AsyncIterator[CallStore]:
    if kind == "memory":
        yield MemoryCalls()
        return
    from store.calls_redis import RedisCalls
    from store.redis import RedisStore
    from tests.support.redis import fresh_redis_url

    redis_store = RedisStore(fresh_redis_url(), "node-calls")
    try:
        yield RedisCalls(redis_store)
    finally:
        await redis_store.close()


@pytest.fixture(params=["memory", "redis"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[CallStore]:
    async with _store(request.param) as value:
        yield value


def ringing(call_id: str, caller: str, callee: str, now: float = T0) -> CallState:
    return place_call(call_id=call_id, caller=Actor(caller, caller.title(), "main", f"{caller}-c"),
                      callee_user=callee, callee_name=callee.title(), video=False, now=now,
                      policy=POLICY, friends=True, blocked=False, callee_apps_online={"main"},
                      caller_calls=[], callee_calls=[]).call


def answered(call: CallState, now: float = T0 + 1) -> CallState:
    return apply(call, Actor(call.callee.user, "", "main", "x"), AnswerCall(call.id), now).call


def hung_up(call: CallState, now: float = T0 + 2) -> CallState:
    return apply(call, Actor(call.caller.user), Hangup(call.id), now).call


def test_satisfies_the_protocol(store: CallStore) -> None:
    assert isinstance(store, CallStore)


async def test_a_calls_life_in_the_store(store: CallStore) -> None:
    call = ringing("c1", "ann", "bob")
    first = await store.commit(None, call, [])
    assert first == StoredCall(call, 1)
    assert await store.load("c1") == first
    assert await store.calls_of("ann") == [first] == await store.calls_of("bob")
    assert await store.due_calls(T0 + 29) == []
    assert await store.due_calls(T0 + 30) == ["c1"]  # the ring timeout
    second = await store.commit(first, answered(call), [])
    assert second.version == 2 and (await store.load("c1")) == second
    assert await store.due_calls(T0 + 99) == []
    third = await store.commit(second, hung_up(second.call), [])
    assert third.call.state is CallStatus.ENDED
    assert await store.load("c1") is None
    assert await store.calls_of("ann") == [] == await store.calls_of("bob")


async def test_versions_are_checked(store: CallStore) -> None:
    call = ringing("c1", "ann", "bob")
    first = await store.commit(None, call, [])
    with pytest.raises(Conflict):
        await store.commit(None, call, [])
    await store.commit(first, answered(call), [])
    with pytest.raises(Conflict):
        await store.commit(first, hung_up(call), [])


async def test_nobody_rings_out_twice_or_is_in_two_calls(store: CallStore) -> None:
    first = await store.commit(None, ringing("c1", "ann", "bob"), [])
    with pytest.raises(CallError) as caught:
        await store.commit(None, ringing("c2", "ann", "cat"), [])
    assert caught.value.code == "already_in_call"
    # Two callers may ring one callee at once.
    await store.commit(None, ringing("c3", "dan", "bob"), [])
    await store.commit(first, answered(first.call), [])
    # Now bob is in an active call: a new call to him is busy, and so is answering c3.
    with pytest.raises(CallError) as caught:
        await store.commit(None, ringing("c4", "eve", "bob"), [])
    assert caught.value.code == "busy"
    c3 = await store.load("c3")
    assert c3 is not None
    with pytest.raises(CallError) as caught:
        await store.commit(c3, answered(c3.call), [])
    assert caught.value.code == "already_in_call"
    assert (await store.load("c3")) == c3  # refused: nothing written
    assert await store.load("c4") is None


async def test_a_match_needs_both_users_free(store: CallStore) -> None:
    await store.commit(None, ringing("c1", "ann", "bob"), [])
    match = start_match("m1", Side(Actor("ann", "Ann", "main", "a"), {}),
                        Side(Actor("zed", "Zed", "main", "z"), {}), T0).call
    with pytest.raises(CallError) as caught:
        await store.commit(None, match, [])
    assert caught.value.code == "already_in_call"
    free = replace(match, id="m2", caller=replace(match.caller, user="yan"))
    stored = await store.commit(None, free, [])
    assert stored.version == 1 and (await store.calls_of("zed")) == [stored]


async def test_racing_calls_leave_each_user_in_one_call(store: CallStore) -> None:
    """15 callers call each of 15 callees at once, then every callee answers every call
    ringing them at once: each caller places exactly one call, each callee who was rung ends
    up in exactly one active call, nobody in two."""
    callers = [f"a{i}" for i in range(15)]
    callees = [f"b{i}" for i in range(15)]
    attempts = [ringing(f"{a}-{b}", a, b) for b in callees for a in callers]
    results = await asyncio.gather(*(store.commit(None, c, []) for c in attempts),
                                   return_exceptions=True)
    assert all(isinstance(r, StoredCall) or getattr(r, "code", None) == "already_in_call"
               for r in results)
    placed = [r for r in results if isinstance(r, StoredCall)]
    assert sorted(s.call.caller.user for s in placed) == sorted(callers)
    answers = await asyncio.gather(*(store.commit(s, answered(s.call), []) for s in placed),
                                   return_exceptions=True)
    active = [a for a in answers if isinstance(a, StoredCall)]
    assert all(isinstance(a, StoredCall) or getattr(a, "code", None) == "already_in_call"
               for a in answers)
    in_active = [u for a in active for u in a.call.users]
    assert len(in_active) == len(set(in_active)), "someone is in two active calls"
    assert {a.call.callee.user for a in active} == {s.call.callee.user for s in placed}
    for user in callers + callees:
        live = await store.calls_of(user)
        assert sum(c.call.state is CallStatus.ACTIVE for c in live) <= 1
