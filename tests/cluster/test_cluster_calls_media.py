"""A call's media across nodes: the parties are connected to two different `run_server.py`
processes on one Redis; the first offer claims the call's media for its node, the other
party's offer is forwarded there, and each hears the other (real aiortc peers, FFT)."""

from __future__ import annotations

import redis.asyncio as aioredis

from store.keys import Keys
from tests.server.callmedia import assert_they_hear_each_other
from tests.server.peoplekit import befriend, person
from tests.support.cluster import cluster_nodes
from tests.support.server import close_all


async def test_the_parties_on_two_nodes_hear_each_other_through_one(redis_url: str) -> None:
    async with cluster_nodes(redis_url, ["n1", "n2"]) as (n1, n2):
        ann, bob = await person(n1.url, "ann"), await person(n2.url, "bob")
        await befriend(ann, bob)
        call = (await ann.call("call", user="bob"))["call"]
        await bob.call("answer_call", call=call["id"])
        await assert_they_hear_each_other(ann, bob, call["id"])
        client = aioredis.Redis.from_url(redis_url)
        try:
            # The caller offered first, on n1: n1 owns the call's media.
            assert await client.get(Keys().call_owner(call["id"])) == b"n1"
            await bob.call("hangup", call=call["id"])
            # The call's end ends the lease (renewal needs the call's record).
            assert await client.exists(Keys().call(call["id"])) == 0
        finally:
            await client.aclose()
        await close_all([ann, bob])
