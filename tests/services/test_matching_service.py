"""MatchService's pairing loop on real stores: two services on one Redis stand for two nodes.

Safety does not rest on the lead: two nodes pairing the same queue at once (a stale leader)
still pair nobody twice. The lead itself moves when its holder resigns or is found dead; a
node taken for dead by mistake writes its waiting users back."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass

from calls.machine import Actor
from protocol.schema import CityChoice
from services.matching import MatchService
from store.calls_redis import RedisCalls
from store.match_redis import RedisMatch
from store.people_redis import RedisPeople
from store.presence import RedisPresence
from store.redis import RedisStore
from store.user_events import UserBatch
from tests.support.redis import fresh_redis_url


@dataclass
class Node:
    store: RedisStore
    presence: RedisPresence
    people: RedisPeople
    calls: RedisCalls
    service: MatchService
    delivered: list[UserBatch]


@contextlib.asynccontextmanager
async def nodes(*ids: str) -> AsyncIterator[list[Node]]:
    url = fresh_redis_url()
    made: list[Node] = []
    counter = itertools.count()
    try:
        for node_id in ids:
            store = RedisStore(url, node_id)
            presence, people, calls = RedisPresence(store), RedisPeople(store), RedisCalls(store)
            service = MatchService(RedisMatch(store), calls, people, presence, node_id=node_id,
                                   new_call_id=lambda: f"m{next(counter)}")
            delivered: list[UserBatch] = []
            service.set_sink(delivered.append)
            made.append(Node(store, presence, people, calls, service, delivered))
        yield made
    finally:
        for node in made:
            await node.store.close()


def parties(batch: UserBatch) -> tuple[str, str]:
    assert batch.call is not None
    return batch.call.users


async def arrive(node: Node, user: str, city: str = "Taipei") -> None:
    await node.people.update_profile(user, {"name": user, "verified": True, "city": city})
    await node.presence.connected(user, f"{user}-c", "main")
    await node.service.join(Actor(user, user, "main", f"{user}-c"), verified=True,
                            city=CityChoice.ANY, tags=None)


async def test_two_nodes_pairing_at_once_pair_nobody_twice() -> None:
    async with nodes("n1", "n2") as (a, b):
        users = [f"u{i:03}" for i in range(200)]
        for i, user in enumerate(users):
            await arrive((a, b)[i % 2], user, ("Taipei", "Tainan")[i % 3 == 0])
        now = a.service.clock()
        # Both read the same queue and commit their (identical) choices concurrently.
        made_a, made_b = await asyncio.gather(a.service.pair_round(now),
                                              b.service.pair_round(now))
        made = made_a + made_b
        paired = [u for batch in made for u in parties(batch)]
        assert len(paired) == len(set(paired)), "someone was paired twice"
        # Whatever one node lost to the other is made in the next round.
        more = await a.service.pair_round(now + 0.1) + await b.service.pair_round(now + 0.2)
        everyone = paired + [u for batch in more for u in parties(batch)]
        assert sorted(everyone) == users
        for user in users:
            live = await a.calls.calls_of(user)
            assert len(live) == 1 and live[0].call.kind.value == "match"
        assert await a.service.store.waiting() == []


async def test_one_leader_pairs_and_the_lead_moves_when_it_goes() -> None:
    async with nodes("n1", "n2") as (a, b):
        assert await a.service.step() == []  # n1 takes the lead (nobody waits yet)
        await arrive(b, "ann")
        await arrive(b, "bob")
        assert await b.service.step() == []  # n2 does not lead: it pairs nothing
        [batch] = await a.service.step()
        assert batch.call is not None and set(batch.call.users) == {"ann", "bob"}
        assert a.delivered == [batch] and b.delivered == []
        # n1 is found dead: its lead ends at once, and n2 pairs.
        await b.service.node_lost("n1")
        await arrive(a, "cat")
        await arrive(a, "dan")
        [batch] = await b.service.step()
        assert batch.call is not None and set(batch.call.users) == {"cat", "dan"}


async def test_a_node_taken_for_dead_writes_its_waiting_users_back() -> None:
    async with nodes("n1", "n2") as (a, b):
        await arrive(a, "ann")
        await arrive(b, "bob")
        await b.people.change_relations("bob", "ann", lambda r: (r.block("bob"), None))
        # n2 takes n1 for dead: its connections leave presence, its waiting users the queue.
        await b.presence.take_node("n1")
        await b.service.node_lost("n1")
        assert [e.user for e in await b.service.store.waiting()] == ["bob"]
        # n1 was only stalled: its connections and its waiting users come back.
        await a.presence.restore()
        await a.service.restore()
        assert sorted(e.user for e in await b.service.store.waiting()) == ["ann", "bob"]
