"""People and calls across nodes: two `run_server.py` processes on one real Redis, clients
spread over them (docs/protocol.md "Calls (one to one)": a call's events reach parties on
any node; presence by app is the cluster's; a dead node's users are held for the grace)."""

from __future__ import annotations

import asyncio
import os
import signal

from tests.server.peoplekit import befriend, person
from tests.support.cluster import cluster_nodes
from tests.support.server import WireClient, close_all

SIGNALING = ("--no-media",)
EVENT_TIMEOUT = 20.0


async def test_follows_and_a_whole_call_across_two_nodes(redis_url: str) -> None:
    async with cluster_nodes(redis_url, ["n1", "n2"], *SIGNALING) as (n1, n2):
        ann = await person(n1.url, "ann")
        bob_here = await person(n1.url, "bob")
        bob_there = await person(n2.url, "bob")
        assert (await ann.call("follow", user="bob"))["mutual"] is False
        for conn in (bob_here, bob_there):
            assert (await conn.event("followed", timeout=EVENT_TIMEOUT))["user"] == "ann"
        assert (await bob_there.call("follow", user="ann"))["mutual"] is True
        assert (await ann.event("followed", timeout=EVENT_TIMEOUT))["mutual"] is True
        friends = (await ann.call("list_follows", which="friends"))["users"]
        assert friends == [{"user": "bob", "name": "bob", "mutual": True, "online": True}]

        call = (await ann.call("call", user="bob"))["call"]
        for conn in (bob_here, bob_there):
            assert (await conn.event("call_incoming", timeout=EVENT_TIMEOUT))["call"] == call
        answered = (await bob_there.call("answer_call", call=call["id"]))["call"]
        assert (await ann.event("call_state", timeout=EVENT_TIMEOUT))["call"] == answered
        elsewhere = await bob_here.event("call_ended", timeout=EVENT_TIMEOUT)
        assert elsewhere["reason"] == "answered_elsewhere"
        # Either node sees the call; the other party hangs up through the other node.
        assert [c["id"] for c in (await bob_here.call("list_calls"))["calls"]] == [call["id"]]
        await bob_here.call("hangup", call=call["id"])
        assert (await ann.event("call_ended", timeout=EVENT_TIMEOUT))["reason"] == "hangup"
        assert (await bob_there.event("call_ended", timeout=EVENT_TIMEOUT))["reason"] == \
            "hangup"
        await close_all([ann, bob_here, bob_there])


async def test_presence_across_nodes_decides_user_offline_and_online(redis_url: str) -> None:
    async with cluster_nodes(redis_url, ["n1", "n2"], *SIGNALING) as (n1, n2):
        ann = await person(n1.url, "ann")
        bob = await person(n2.url, "bob")
        await befriend(ann, bob)
        assert (await ann.call("get_profile", user="bob"))["profile"]["online"] is True
        await bob.close()
        # Closing is asynchronous on the server: wait until n1 sees bob gone.
        for _ in range(200):
            if not (await ann.call("get_profile", user="bob"))["profile"]["online"]:
                break
            await asyncio.sleep(0.05)
        assert (await ann.request("call", user="bob"))["code"] == "user_offline"
        await ann.close()


async def test_racing_calls_across_nodes_leave_nobody_in_two_calls(redis_url: str) -> None:
    """Six callers and six callees spread over two nodes, all friends: every caller calls
    every callee at once, then every callee answers every call ringing them at once. Each
    caller places exactly one call, each callee who was rung ends up in exactly one active
    call, nobody in two, and every refusal is a clear code."""
    async with cluster_nodes(redis_url, ["n1", "n2"], *SIGNALING) as nodes:
        callers = [await person(nodes[i % 2].url, f"a{i}") for i in range(6)]
        callees = [await person(nodes[(i + 1) % 2].url, f"b{i}") for i in range(6)]
        for a in callers:
            for b in callees:
                await befriend(a, b)
        replies = await asyncio.gather(*(a.request("call", user=b.user)
                                         for b in callees for a in callers))
        assert {r["code"] for r in replies if r["type"] == "error"} <= {"already_in_call"}
        placed = [r["call"] for r in replies if r["type"] == "ok"]
        assert sorted(c["caller"]["user"] for c in placed) == [a.user for a in callers]
        by_user = {c.user: c for c in callees}
        answers = await asyncio.gather(*(
            by_user[c["callee"]["user"]].request("answer_call", call=c["id"]) for c in placed))
        assert {a["code"] for a in answers if a["type"] == "error"} <= {"already_in_call"}
        rung = {c["callee"]["user"] for c in placed}
        for client in [*callers, *callees]:
            calls = (await client.call("list_calls"))["calls"]
            active = [c for c in calls if c["state"] == "active"]
            assert len(active) <= 1, f"{client.user} is in two active calls"
            if client.user in rung:
                assert len(active) == 1, f"{client.user} was rung but answered nothing"
        await close_all([*callers, *callees])


async def test_ring_timeout_and_grace_are_swept_across_nodes(redis_url: str) -> None:
    async with cluster_nodes(redis_url, ["n1", "n2"], "--ring-timeout", "0.5", "--grace",
                             "0.5", *SIGNALING) as (n1, n2):
        ann = await person(n1.url, "ann")
        bob = await person(n2.url, "bob")
        await befriend(ann, bob)
        call = (await ann.call("call", user="bob"))["call"]
        assert (await bob.event("call_ended", timeout=EVENT_TIMEOUT))["reason"] == "no_answer"
        assert (await ann.event("call_ended", timeout=EVENT_TIMEOUT))["call"]["id"] == \
            call["id"]

        call = (await ann.call("call", user="bob"))["call"]
        await bob.call("answer_call", call=call["id"])
        await bob.close()
        away = await ann.event("call_state", timeout=EVENT_TIMEOUT, )
        while not away["call"]["callee"]["away"]:
            away = await ann.event("call_state", timeout=EVENT_TIMEOUT)
        ended = await ann.event("call_ended", timeout=EVENT_TIMEOUT)
        assert ended["reason"] == "connection_lost"
        await ann.close()


async def test_a_party_on_a_dead_node_is_held_then_lost(redis_url: str) -> None:
    async with cluster_nodes(redis_url, ["n1", "n2"], "--grace", "30", *SIGNALING) \
            as (n1, n2):
        ann = await person(n1.url, "ann")
        bob = await person(n2.url, "bob")
        await befriend(ann, bob)
        call = (await ann.call("call", user="bob"))["call"]
        await bob.call("answer_call", call=call["id"])
        await ann.event("call_state", timeout=EVENT_TIMEOUT)
        os.kill(n2.proc.pid, signal.SIGKILL)
        # n1 finds n2's heartbeat gone, takes its connections out of presence, and bob is
        # held: ann sees him away.
        away = await ann.event("call_state", timeout=EVENT_TIMEOUT)
        assert away["call"]["callee"]["away"] is True
        # bob comes back through the surviving node within the grace.
        back = await WireClient.connect(n1.url)
        await back.call("hello", user="bob")
        state = await ann.event("call_state", timeout=EVENT_TIMEOUT)
        assert state["call"]["callee"]["away"] is False
        await back.call("hangup", call=call["id"])
        assert (await ann.event("call_ended", timeout=EVENT_TIMEOUT))["reason"] == "hangup"
        await close_all([ann, back])


async def test_a_stalled_node_taken_for_dead_brings_its_party_back(redis_url: str) -> None:
    """A node that stops longer than the heartbeat TTL is taken for dead: its party is held
    (away). When it runs again it finds itself struck off, writes its connections back, and
    the party returns, the call never having ended."""
    async with cluster_nodes(redis_url, ["n1", "n2"], "--grace", "60", *SIGNALING) \
            as (n1, n2):
        ann = await person(n1.url, "ann")
        bob = await person(n2.url, "bob")
        await befriend(ann, bob)
        call = (await ann.call("call", user="bob"))["call"]
        await bob.call("answer_call", call=call["id"])
        await ann.event("call_state", timeout=EVENT_TIMEOUT)
        os.kill(n2.proc.pid, signal.SIGSTOP)
        try:
            away = await ann.event("call_state", timeout=EVENT_TIMEOUT)
            assert away["call"]["callee"]["away"] is True
        finally:
            os.kill(n2.proc.pid, signal.SIGCONT)
        back = await ann.event("call_state", timeout=EVENT_TIMEOUT)
        assert back["call"]["callee"]["away"] is False and back["call"]["state"] == "active"
        # bob's connection on n2 was never closed: the call goes on through it.
        await bob.call("hangup", call=call["id"])
        assert (await ann.event("call_ended", timeout=EVENT_TIMEOUT))["reason"] == "hangup"
        await close_all([ann, bob])
