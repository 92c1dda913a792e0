"""Several server processes on one real Redis, driven by raw websocket clients.

Each node is `python run_server.py --redis URL --node-id ID` (signaling only: media has its
own tests); clients speak the wire protocol (docs/protocol.md) through protocol.codec and
are spread over the nodes.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence
from typing import Any

from tests.support.cluster import cluster_nodes
from tests.support.server import ServerProcess, WireClient, close_all

SIGNALING = ("--no-media",)
EVENT_TIMEOUT = 20.0


async def clients_on(nodes: Sequence[ServerProcess], users: Sequence[str],
                     parallel: int = 50) -> list[WireClient]:
    """One connected, hello'd client per user, round-robin over the nodes."""
    gate = asyncio.Semaphore(parallel)

    async def one(i: int, user: str) -> WireClient:
        async with gate:
            return await nodes[i % len(nodes)].client(user)

    return list(await asyncio.gather(*(one(i, user) for i, user in enumerate(users))))


async def open_room(host: WireClient, **options: Any) -> str:
    reply = await host.call("create_room", title="Cluster", auto_chatroom_at=0, **options)
    room_id = str(reply["room"]["id"])
    await host.call("open_chatroom", room=room_id)
    return room_id


async def claim_any_seat(client: WireClient, room_id: str, seats: int) -> tuple[int | None,
                                                                                   list[str]]:
    """Claim seats from a random one on until one is won; (seat or None, refusal codes)."""
    start = random.randrange(seats)
    refusals: list[str] = []
    for offset in range(seats):
        reply = await client.request("take_seat", room=room_id, seat=(start + offset) % seats)
        if reply["type"] == "ok":
            return int(reply["seat"]), refusals
        refusals.append(str(reply["code"]))
    return None, refusals


async def test_200_clients_on_three_nodes_race_for_8_seats(redis_url: str) -> None:
    async with cluster_nodes(redis_url, ["n1", "n2", "n3"], *SIGNALING) as nodes:
        host = await nodes[0].client("host")
        room_id = await open_room(host, seats=8, seat_mode="free")
        users = [f"racer{i}" for i in range(200)]
        racers = await clients_on(nodes, users)
        try:
            await asyncio.gather(*(c.call("join_room", room=room_id) for c in racers))

            results = await asyncio.gather(*(claim_any_seat(c, room_id, 8) for c in racers))

            winners = {c.user: seat for c, (seat, _) in zip(racers, results, strict=True)
                       if seat is not None}
            assert len(winners) == 8
            assert sorted(winners.values()) == list(range(8)), "a seat was given twice"
            codes = {code for _, refusals in results for code in refusals}
            assert codes <= {"seat_taken", "seats_full"}
            # Every node serves the same room: the winners on their seats.
            for node in nodes:
                async with await node.client("reader") as reader:
                    state = (await reader.call("join_room", room=room_id))["room"]
                    assert {s["user"]: s["index"] for s in state["seats"]} == winners
                    await reader.call("leave_room", room=room_id)
        finally:
            await close_all([*racers, host])


async def test_events_cross_nodes(redis_url: str) -> None:
    async with cluster_nodes(redis_url, ["a", "b", "c"], *SIGNALING) as (a, b, c):
        host = await a.client("host")
        guest = await b.client("guest")
        watcher = await c.client("watcher")
        try:
            reply = await host.call("create_room", title="Across", auto_chatroom_at=0)
            room_id = reply["room"]["id"]
            await guest.call("join_room", room=room_id)
            await watcher.call("join_room", room=room_id)

            # A request on B reaches the host on A ...
            await guest.call("request_mic", room=room_id, note="hi")
            requested = await host.event("mic_requested", timeout=EVENT_TIMEOUT)
            assert (requested["user"], requested["position"]) == ("guest", 1)
            # ... and the host's answer on A reaches the guest on B and the watcher on C.
            assert (await host.call("accept_mic", room=room_id, user="guest"))["seat"] == 0
            assert (await guest.event("mic_accepted", timeout=EVENT_TIMEOUT))["seat"] == 0
            for client in (guest, watcher, host):
                changed = await client.event("seat_changed", timeout=EVENT_TIMEOUT)
                assert changed["seat"]["user"] == "guest"
            # Chat from C, in order, on A and B.
            for i in range(20):
                await watcher.call("chat", room=room_id, text=f"line {i}")
            for client in (host, guest):
                lines = [(await client.event("chat_message", timeout=EVENT_TIMEOUT))["text"]
                         for _ in range(20)]
                assert lines == [f"line {i}" for i in range(20)]
            # Only the host and admins see who joins: the watcher on C never got member_joined.
            assert not [m for m in watcher.drain() if m["type"] == "member_joined"]
        finally:
            await close_all([host, guest, watcher])


async def test_a_killed_node_loses_nothing_and_survivors_free_its_seats(redis_url: str) -> None:
    flags = (*SIGNALING, "--grace", "1", "--host-grace", "60")
    async with cluster_nodes(redis_url, ["a", "b", "victim"], *flags) as (a, b, victim):
        host = await a.client("host")
        adm, q1, q2, bad, safe = await clients_on([b], ["adm", "q1", "q2", "bad", "safe"])
        doomed = await victim.client("doomed")
        survivors = [host, adm, q1, q2, bad, safe]
        try:
            room_id = await open_room(host, seats=8)
            for client in (*survivors[1:], doomed):
                await client.call("join_room", room=room_id)
            await host.call("set_admin", room=room_id, user="adm", admin=True)
            await host.call("kick_member", room=room_id, user="bad", ban=True)
            for client in (safe, doomed, q1, q2):
                await client.call("request_mic", room=room_id)
            await adm.call("accept_mic", room=room_id, user="safe", seat=2)
            await adm.call("accept_mic", room=room_id, user="doomed", seat=5)
            host.drain()

            victim.proc.kill()  # SIGKILL: no goodbye, no cleanup
            await victim.proc.wait()

            # Everything is still there, served by the survivors.
            state = (await host.call("join_room", room=room_id))["room"]
            assert state["admins"] == ["adm"]
            assert [r["user"] for r in state["queue"]] == ["q1", "q2"]
            seated = {s["index"]: s["user"] for s in state["seats"] if s["user"]}
            assert seated == {2: "safe", 5: "doomed"}
            async with await b.client("bad") as again:
                assert await again.error("join_room", room=room_id) == "banned"
            listed = (await safe.call("list_rooms"))["rooms"]
            assert [r["id"] for r in listed] == [room_id]
            # The survivors still take commands: an admin on B seats q1, the host on A sees it.
            await adm.call("accept_mic", room=room_id, user="q1", seat=3)
            assert (await q1.event("mic_accepted", timeout=EVENT_TIMEOUT))["seat"] == 3

            # The doomed user's connection died with its node: a survivor notices, the seat goes
            # away, and after the grace a sweeper frees it.
            away = await host.event("seat_changed", timeout=EVENT_TIMEOUT,
                                    seat={**_seat(5, "doomed"), "away": True})
            assert away["seat"]["away"] is True
            freed = await host.event("seat_changed", timeout=EVENT_TIMEOUT, seat=_seat(5, None))
            assert freed["seat"]["user"] is None
            state = (await adm.call("join_room", room=room_id))["room"]
            seated = {s["index"]: s["user"] for s in state["seats"] if s["user"]}
            assert seated == {2: "safe", 3: "q1"}
        finally:
            await close_all([*survivors, doomed])


def _seat(index: int, user: str | None) -> dict[str, Any]:
    return {"index": index, "user": user, "name": user, "muted": False, "self_muted": False,
            "locked": False, "away": False}


async def test_two_nodes_a_user_whose_node_stops_keeps_the_seat_on_the_other(
    redis_url: str,
) -> None:
    async with cluster_nodes(redis_url, ["a", "b"], *SIGNALING, "--grace", "30") as (a, b):
        host = await a.client("host")
        guest = await b.client("guest")
        again: WireClient | None = None
        try:
            room_id = await open_room(host, seats=8, seat_mode="free")
            await guest.call("join_room", room=room_id)
            await guest.call("take_seat", room=room_id, seat=1)
            await host.event("seat_changed", timeout=EVENT_TIMEOUT, seat=_seat(1, "guest"))

            b.terminate()  # a graceful stop: clients closed with 1001, their grace starts
            assert await b.wait() == 0
            assert await guest.closed() == 1001
            await host.event("seat_changed", timeout=EVENT_TIMEOUT,
                             seat={**_seat(1, "guest"), "away": True})

            again = await a.client("guest")
            state = (await again.call("join_room", room=room_id))["room"]
            assert state["seats"][1] == _seat(1, "guest")
            await host.event("seat_changed", timeout=EVENT_TIMEOUT, seat=_seat(1, "guest"))
        finally:
            await close_all([c for c in (host, guest, again) if c is not None])
