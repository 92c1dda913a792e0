"""The MatchStore contract (store/match.py): MemoryMatch and RedisMatch (a real redis-server)
through the same tests, each beside the call, people and presence stores of its kind. Calls
are made by `calls/`'s own `start_match`, as the pairing loop makes them."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace

import pytest

from calls.machine import Actor, MatchSide, apply, start_match
from calls.matching import REMATCH_WINDOW
from calls.model import CallStatus
from protocol.schema import Hangup
from store.calls import CallStore, MemoryCalls
from store.match import (
    HISTORY,
    Entry,
    Facts,
    MatchStore,
    MemoryMatch,
    Refusal,
    Refused,
    Report,
)
from store.people import MemoryPeople, PeopleStore
from store.presence import MemoryPresence, Presence

T0 = 10_000.0


@dataclass
class Stores:
    match: MatchStore
    calls: CallStore
    people: PeopleStore
    presence: Presence


@contextlib.asynccontextmanager
async def _stores(kind: str, node: str = "node-a", url: str | None = None
                  ) -> AsyncIterator[Stores]:
    if kind == "memory":
        calls, people, presence = MemoryCalls(), MemoryPeople(), MemoryPresence()
        yield Stores(MemoryMatch(calls, people, presence), calls, people, presence)
        return
    from store.calls_redis import RedisCalls
    from store.match_redis import RedisMatch
    from store.people_redis import RedisPeople
    from store.presence import RedisPresence
    from store.redis import RedisStore
    from tests.support.redis import fresh_redis_url

    redis_store = RedisStore(url or fresh_redis_url(), node)
    try:
        yield Stores(RedisMatch(redis_store), RedisCalls(redis_store),
                     RedisPeople(redis_store), RedisPresence(redis_store))
    finally:
        await redis_store.close()


@pytest.fixture(params=["memory", "redis"])
async def stores(request: pytest.FixtureRequest) -> AsyncIterator[Stores]:
    async with _stores(request.param) as value:
        yield value


def entry(user: str, *, city: str | None = "Taipei", tags: tuple[str, ...] = (),
          same: bool = False, at: float = T0, node: str = "node-a") -> Entry:
    return Entry(user, user.title(), city, tags, same, at, f"{user}-c", "main", node)


async def online(s: Stores, *users: str) -> None:
    for user in users:
        await s.presence.connected(user, f"{user}-c", "main")
        await s.people.update_profile(user, {"name": user.title(), "verified": True})


async def pair(s: Stores, a: Entry, b: Entry, call_id: str = "m1",
               now: float = T0 + 1) -> Refused | None:
    outcome = start_match(call_id, MatchSide(Actor(a.user, a.name, a.app, a.conn), a.card()),
                          MatchSide(Actor(b.user, b.name, b.app, b.conn), b.card()), now)
    return await s.match.commit_pair(a, b, outcome.call, outcome.events, now)


def test_satisfies_the_protocol(stores: Stores) -> None:
    assert isinstance(stores.match, MatchStore)


def test_an_entry_survives_its_wire_form() -> None:
    e = entry("ann", city=None, tags=("jazz", "貓"), same=True)
    assert len(e.stamp) == 16
    assert Entry.from_bytes("ann", e.to_bytes()) == e
    assert e.card() == {"user": "ann", "name": "Ann", "city": None, "tags": ["jazz", "貓"]}


async def test_join_replace_leave_and_the_version(stores: Stores) -> None:
    m = stores.match
    start = await m.version()
    ann = entry("ann")
    await m.join(ann)
    assert await m.entry("ann") == ann and await m.waiting() == [ann]
    assert await m.version() > start
    again = replace(ann, tags=("jazz",), stamp="f" * 16)
    await m.join(again)
    assert await m.waiting() == [again]
    assert await m.drop([ann]) == []  # not the entry given any more
    before = await m.version()
    assert await m.leave("ann") is True
    assert await m.leave("ann") is False
    assert await m.entry("ann") is None and await m.waiting() == []
    assert await m.version() > before
    await m.join(again)
    assert await m.drop([again]) == ["ann"]
    assert await m.waiting() == []


async def test_a_pair_makes_an_active_match_call_with_both_slots(stores: Stores) -> None:
    await online(stores, "ann", "bob")
    ann, bob = entry("ann", tags=("jazz",)), entry("bob", at=T0 + 0.5)
    await stores.match.join(ann)
    await stores.match.join(bob)
    assert await pair(stores, ann, bob) is None
    assert await stores.match.waiting() == []
    for user in ("ann", "bob"):
        [stored] = await stores.calls.calls_of(user)
        assert (stored.call.id, stored.call.state, stored.call.kind.value, stored.version) == \
            ("m1", CallStatus.ACTIVE, "match", 1)
    assert await stores.match.busy(["ann", "bob", "cat"]) == {"ann", "bob"}
    assert (await stores.match.history(["ann", "bob", "cat"], T0)) == \
        {"ann": {"bob": T0 + 1}, "bob": {"ann": T0 + 1}, "cat": {}}
    assert await stores.match.met("bob", "ann", T0)
    assert not await stores.match.met("bob", "ann", T0 + 2)
    # The call store carries it from here: a hangup ends it and frees both.
    await _hang_up(stores, "m1")
    assert await stores.match.busy(["ann", "bob"]) == set()


async def test_nobody_is_paired_twice_when_pairings_race(stores: Stores) -> None:
    await online(stores, "ann", "bob", "cat")
    ann, bob, cat = entry("ann"), entry("bob"), entry("cat")
    for e in (ann, bob, cat):
        await stores.match.join(e)
    results = await asyncio.gather(pair(stores, ann, bob, "m1"), pair(stores, ann, cat, "m2"))
    assert sorted(r is None for r in results) == [False, True]
    refused = next(r for r in results if r is not None)
    assert refused == Refused(Refusal.GONE, "ann")
    assert [e.user for e in await stores.match.waiting()] in (["bob"], ["cat"])
    assert len(await stores.calls.calls_of("ann")) == 1


async def test_refusals_write_nothing_or_drop_the_one_who_cannot_be_paired(
        stores: Stores) -> None:
    m = stores.match
    await online(stores, "ann", "bob")
    ann, bob, ghost = entry("ann"), entry("bob"), entry("ghost")
    for e in (ann, bob, ghost):
        await m.join(e)
    # Offline: no connection anywhere; the entry goes.
    assert await pair(stores, ann, ghost) == Refused(Refusal.OFFLINE, "ghost")
    assert {e.user for e in await m.waiting()} == {"ann", "bob"}
    # Gone: a stale entry (joined again since).
    assert await pair(stores, replace(ann, stamp="0" * 16), bob) == Refused(Refusal.GONE, "ann")
    # Blocked, either way.
    _, _ = await stores.people.change_relations("bob", "ann", lambda r: (r.block("bob"), None))
    assert await pair(stores, ann, bob) == Refused(Refusal.BLOCKED, "bob")
    assert await m.blocking(["ann", "bob"]) == {"ann": set(), "bob": {"ann"}}
    await stores.people.change_relations("bob", "ann", lambda r: (r.unblock("bob"), None))
    assert {e.user for e in await m.waiting()} == {"ann", "bob"}
    for user in ("ann", "bob"):
        assert await stores.calls.calls_of(user) == []
    # Recent: paired within the rematch window; after it, they may meet again.
    assert await pair(stores, ann, bob, "m1", now=T0) is None
    await _hang_up(stores, "m1")
    ann2, bob2 = entry("ann"), entry("bob")
    await m.join(ann2)
    await m.join(bob2)
    assert await pair(stores, ann2, bob2, "m2", now=T0 + REMATCH_WINDOW - 1) == \
        Refused(Refusal.RECENT, "ann")
    assert await pair(stores, ann2, bob2, "m2", now=T0 + REMATCH_WINDOW) is None


async def test_a_user_in_a_call_is_dropped_not_paired(stores: Stores) -> None:
    await online(stores, "ann", "bob", "cat", "dan")
    busy_a, busy_b = entry("cat"), entry("dan")
    await stores.match.join(busy_a)
    await stores.match.join(busy_b)
    assert await pair(stores, busy_a, busy_b, "m0") is None  # cat and dan now talk
    ann, cat = entry("ann"), entry("cat")
    await stores.match.join(ann)
    await stores.match.join(cat)  # joined again although in a call (a race with the check)
    assert await pair(stores, ann, cat, "m1") == Refused(Refusal.BUSY, "cat")
    assert [e.user for e in await stores.match.waiting()] == ["ann"]


async def test_sweep_drops_the_waiting_users_nobody_is_connected_as(stores: Stores) -> None:
    await online(stores, "ann")
    for user in ("ann", "bob"):
        await stores.match.join(entry(user))
    assert await stores.match.sweep_absent() == ["bob"]
    assert [e.user for e in await stores.match.waiting()] == ["ann"]
    await stores.presence.disconnected("ann", "ann-c")
    assert await stores.match.sweep_absent() == ["ann"]


async def test_history_is_pruned_after_its_time(stores: Stores) -> None:
    await online(stores, "ann", "bob", "cat")
    ann, bob = entry("ann"), entry("bob")
    await stores.match.join(ann)
    await stores.match.join(bob)
    assert await pair(stores, ann, bob, "m1", now=T0) is None
    await _hang_up(stores, "m1")
    ann2, cat = entry("ann"), entry("cat")
    await stores.match.join(ann2)
    await stores.match.join(cat)
    later = T0 + HISTORY + 1
    assert await pair(stores, ann2, cat, "m2", now=later) is None
    assert await stores.match.history(["ann"], 0.0) == {"ann": {"cat": later}}


async def test_reports_are_kept_newest_first(stores: Stores) -> None:
    first = Report("ann", "bob", "rude", T0, "match", "node-a")
    second = Report("cat", "bob", "spam, in 中文", T0 + 1, "room:r1", "node-a")
    await stores.match.add_report(first)
    await stores.match.add_report(second)
    assert await stores.match.reports(10) == [second, first]
    assert await stores.match.reports(1) == [second]
    assert await stores.match.reports(0) == []


async def test_one_node_leads_at_a_time() -> None:
    from tests.support.redis import fresh_redis_url

    url = fresh_redis_url()
    async with _stores("redis", "node-a", url) as a, _stores("redis", "node-b", url) as b:
        assert await a.match.lead("node-a", 5.0) is True
        assert await b.match.lead("node-b", 5.0) is False
        assert await a.match.lead("node-a", 5.0) is True  # renewed
        await b.match.release("node-a")  # node-a found dead
        assert await b.match.lead("node-b", 0.2) is True
        assert await a.match.lead("node-a", 5.0) is False
        await asyncio.sleep(0.3)  # node-b's short lease lapsed: anyone may take it
        assert await a.match.lead("node-a", 5.0) is True
        await a.match.resign("node-a")
        assert await b.match.lead("node-b", 5.0) is True
    async with _stores("memory") as memory:
        assert await memory.match.lead("x", 1.0) and await memory.match.lead("y", 1.0)


async def _hang_up(s: Stores, call_id: str) -> None:
    stored = await s.calls.load(call_id)
    assert stored is not None
    after = apply(stored.call, Actor(stored.call.caller.user), Hangup(call_id), T0)
    await s.calls.commit(stored, after.call, after.events)


async def test_a_round_reads_the_queue_when_it_moved_and_its_facts_in_one_step(
        stores: Stores) -> None:
    m = stores.match
    await online(stores, "ann", "bob", "cat", "dan")
    ann, bob, cat = entry("ann"), entry("bob"), entry("cat")
    for e in (ann, bob, cat):
        await m.join(e)
    version, entries = await m.snapshot(-1)
    assert version == await m.version() and entries is not None
    assert sorted(e.user for e in entries) == ["ann", "bob", "cat"]
    assert await m.snapshot(version) == (version, None)  # nothing moved
    await stores.people.change_relations("bob", "cat", lambda r: (r.block("bob"), None))
    dan = entry("dan")
    await m.join(dan)
    assert await pair(stores, ann, dan, "m1", now=T0) is None  # ann and dan now talk
    moved, entries = await m.snapshot(version)
    assert moved > version and sorted(e.user for e in entries or []) == ["bob", "cat"]
    await m.join(entry("ann"))  # joined again though in a call (a race with the check)
    facts = await m.facts(["ann", "bob", "cat"], ["ann", "bob"], T0 - 1)
    assert facts.busy == {"ann"}
    assert facts.recent == {"ann": {"dan": T0}, "bob": {}}
    assert facts.blocks == {"ann": set(), "bob": {"cat"}}
    assert await m.facts([], [], T0) == Facts(set(), {}, {})


async def test_leaving_with_the_last_connection_only(stores: Stores) -> None:
    await online(stores, "ann")
    await stores.match.join(entry("ann"))
    assert await stores.match.leave_if_absent("ann") is False  # still connected
    assert [e.user for e in await stores.match.waiting()] == ["ann"]
    await stores.presence.disconnected("ann", "ann-c")
    assert await stores.match.leave_if_absent("ann") is True
    assert await stores.match.leave_if_absent("ann") is False
    assert await stores.match.waiting() == []
