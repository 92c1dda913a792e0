"""Random matching across nodes: two `run_server.py` processes on one real Redis share one
queue; the node that leads the pairing is SIGKILLed while it pairs, and every user of the
survivor ends up in a call with another survivor's user: never paired twice, never stuck
(those paired with a dead node's user are told when the grace ends, join again and are
paired), and the dead node's users leave the queue."""

from __future__ import annotations

import asyncio
import os
import signal
from typing import Any

import redis.asyncio as aioredis
from websockets.exceptions import ConnectionClosed

from store.keys import Keys
from store.wire import as_text
from tests.server.peoplekit import person
from tests.support.cluster import cluster_nodes
from tests.support.server import ReplyError, WireClient, close_all

SIGNALING = ("--no-media", "--grace", "1")
EVENT_TIMEOUT = 20.0
SETTLE_TIMEOUT = 40.0
JOIN_SPACING = 0.02
KEYS = Keys()


async def matcher(url: str, user: str, city: str = "Taipei") -> WireClient:
    return await person(url, user, verified=True, city=city)


async def test_users_on_two_nodes_are_matched_and_hang_up_across(redis_url: str) -> None:
    async with cluster_nodes(redis_url, ["n1", "n2"], *SIGNALING) as (n1, n2):
        ann = await matcher(n1.url, "ann")
        bob = await matcher(n2.url, "bob", "Tainan")
        await ann.call("match_join")
        await bob.call("match_join", tags=["jazz"])
        found_a = await ann.event("match_found", timeout=EVENT_TIMEOUT)
        found_b = await bob.event("match_found", timeout=EVENT_TIMEOUT)
        assert found_a["call"]["id"] == found_b["call"]["id"]
        assert found_a["peer"] == {"user": "bob", "name": "bob", "city": "Tainan",
                                   "tags": ["jazz"]}
        assert found_b["peer"]["user"] == "ann"
        await ann.call("hangup", call=found_a["call"]["id"])
        assert (await bob.event("call_ended", timeout=EVENT_TIMEOUT))["reason"] == "hangup"
        assert (await bob.call("list_calls"))["calls"] == []
        await close_all([ann, bob])


async def test_sigkill_of_the_pairing_node_mid_way_loses_nobody(redis_url: str) -> None:
    r = aioredis.Redis.from_url(redis_url)
    try:
        async with cluster_nodes(redis_url, ["n1", "n2"], *SIGNALING) as nodes:
            leader_id = await _leader(r)
            leader = nodes[["n1", "n2"].index(leader_id)]
            survivor = nodes[1 - ["n1", "n2"].index(leader_id)]
            doomed = [await matcher(leader.url, f"d{i:02}") for i in range(12)]
            kept = [await matcher(survivor.url, f"s{i:02}") for i in range(12)]
            # A stream of joins; the leader dies as the first pairs arrive: some are paired,
            # some wait, the rest join after (the dead node's users cannot any more).
            joining = asyncio.ensure_future(_join_one_by_one(_interleave(doomed, kept)))
            await _first_match(doomed + kept)
            os.kill(leader.proc.pid, signal.SIGKILL)
            # Only the dead node's sockets failed, and only by closing.
            for client, result in zip(_interleave(doomed, kept), await joining, strict=True):
                if result is not None:
                    assert client in doomed and not isinstance(result, ReplyError), result
            await _settle(kept)
            # Everyone on the survivor is in one active match call, with another survivor.
            partners: dict[str, str] = {}
            for client in kept:
                calls = (await client.call("list_calls"))["calls"]
                assert len(calls) == 1, (client.user, calls)
                call = calls[0]
                assert (call["state"], call["kind"]) == ("active", "match")
                peer = call["callee"] if call["caller"]["user"] == client.user \
                    else call["caller"]
                assert peer["user"].startswith("s"), (client.user, call)
                partners[str(client.user)] = peer["user"]
            assert all(partners[p] == u for u, p in partners.items())
            # No slot points at a call that is gone; the dead node's users left the queue.
            in_call = {as_text(k): as_text(v)
                       for k, v in (await r.hgetall(KEYS.in_call)).items()}
            for user, call_id in in_call.items():
                assert await r.exists(KEYS.call(call_id)), (user, call_id)
            assert {u for u in in_call if u.startswith("s")} == set(partners)
            queue = [as_text(u) for u in await r.hkeys(KEYS.match_queue)]
            assert queue == []
            await close_all(kept + doomed)
    finally:
        await r.aclose()


async def _leader(r: aioredis.Redis) -> str:
    for _ in range(200):
        holder = await r.get(KEYS.match_lead)
        if holder is not None:
            return as_text(holder)
        await asyncio.sleep(0.05)
    raise AssertionError("no node took the pairing lead")


async def _join_one_by_one(clients: list[WireClient]) -> list[BaseException | None]:
    """Each asks to be matched in turn, a moment apart; what each got (None: ok)."""
    out: list[BaseException | None] = []
    for client in clients:
        try:
            await client.call("match_join")
            out.append(None)
        except (ConnectionError, ConnectionClosed, ReplyError) as exc:
            out.append(exc)
        await asyncio.sleep(JOIN_SPACING)
    return out


def _interleave(a: list[WireClient], b: list[WireClient]) -> list[WireClient]:
    return [c for pair in zip(a, b, strict=True) for c in pair]


async def _first_match(clients: list[WireClient]) -> None:
    """Until some client's inbox holds a match_found (it stays there for `_settle`)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + EVENT_TIMEOUT
    while loop.time() < deadline:
        for client in clients:
            if any(m.message.get("type") == "match_found" for m in client.log):
                return
        await asyncio.sleep(0.005)
    raise AssertionError("nobody was matched")


async def _settle(clients: list[WireClient]) -> None:
    """Play each survivor's part: a match call that ends (its peer's node died) is followed
    by match_join again; done when every one is in a live call with a survivor's user."""
    users = {str(c.user) for c in clients}
    live: dict[str, dict[str, Any]] = {}
    seen_calls: dict[str, set[str]] = {u: set() for u in users}

    def done() -> bool:
        for user in users:
            peer = _peer(live[user], user) if user in live else None
            if peer not in users or live.get(str(peer), {}).get("id") != live[user]["id"]:
                return False
        return True

    async def play(client: WireClient) -> None:
        user = str(client.user)
        while not done():
            try:
                message = await client.next_message(timeout=0.1)
            except TimeoutError:
                continue
            kind = message.get("type")
            if kind == "match_found":
                call = message["call"]
                assert user not in live, f"{user} was matched while in a call"
                assert call["id"] not in seen_calls[user]
                seen_calls[user].add(call["id"])
                live[user] = call
            elif kind == "call_ended" and live.get(user, {}).get("id") == message["call"]["id"]:
                assert message["reason"] == "connection_lost", message
                del live[user]
                await client.call("match_join")

    await asyncio.wait_for(asyncio.gather(*(play(c) for c in clients)), SETTLE_TIMEOUT)


def _peer(call: dict[str, Any], user: str) -> str:
    return str(call["callee"]["user"] if call["caller"]["user"] == user
               else call["caller"]["user"])


async def test_a_node_taken_for_dead_puts_its_waiting_users_back(redis_url: str) -> None:
    """n1 stalls (SIGSTOP) past the heartbeat TTL: n2 takes it for dead, and ann, waiting
    through n1, leaves the queue with n1's connections. n1 wakes (SIGCONT), finds itself
    struck off, writes its connections and ann's entry back: she is matched with the next
    user, as if nothing had happened."""
    r = aioredis.Redis.from_url(redis_url)
    try:
        async with cluster_nodes(redis_url, ["n1", "n2"], *SIGNALING) as (n1, n2):
            ann = await matcher(n1.url, "ann")
            await ann.call("match_join", tags=["jazz"])
            assert [as_text(u) for u in await r.hkeys(KEYS.match_queue)] == ["ann"]
            os.kill(n1.proc.pid, signal.SIGSTOP)
            try:
                for _ in range(200):  # n2 finds n1 dead and sweeps its users out
                    if not await r.hexists(KEYS.match_queue, "ann"):
                        break
                    await asyncio.sleep(0.05)
                assert not await r.hexists(KEYS.match_queue, "ann")
            finally:
                os.kill(n1.proc.pid, signal.SIGCONT)
            for _ in range(200):
                if await r.hexists(KEYS.match_queue, "ann"):
                    break
                await asyncio.sleep(0.05)
            assert await r.hexists(KEYS.match_queue, "ann"), "ann was not put back"
            bob = await matcher(n2.url, "bob")
            await bob.call("match_join")
            found = await ann.event("match_found", timeout=EVENT_TIMEOUT)
            assert found["peer"]["user"] == "bob"
            assert (await bob.event("match_found", timeout=EVENT_TIMEOUT))["peer"] == {
                "user": "ann", "name": "ann", "city": "Taipei", "tags": ["jazz"]}
            await close_all([ann, bob])
    finally:
        await r.aclose()
