"""A member joining on a node that does not mix the room is told who is speaking at once.

`speaking` reports changes only and a steady talker makes none: the levels a joiner on the
owner's node gets from the mixer, a joiner elsewhere must get from the owner's snapshot in
Redis (the first on that node) or from what that node kept of the owner's batches (the next
ones). Two `run_server.py` processes on a real Redis, a real aiortc peer playing a tone.
"""

from __future__ import annotations

import asyncio
from typing import Any

from tests.support.cluster import cluster_nodes
from tests.support.rtc import close_all, connect, tone_peer, wait_for
from tests.support.server import WireClient
from tests.support.server import close_all as close_clients

EVENT_TIMEOUT = 10.0


def speaking(client: WireClient) -> list[dict[str, Any]]:
    return [r.message for r in client.log if r.message.get("type") == "speaking"]


async def join_and_wait_speaking(client: WireClient, room: str, speaker: str) -> float:
    """Join; seconds from the join's reply to a `speaking` event naming `speaker`."""
    reply = await client.call("join_room", room=room)
    joined = next(r.at for r in client.log if r.message is reply)
    event = await client.event("speaking", timeout=EVENT_TIMEOUT)
    while not event["levels"].get(speaker):
        event = await client.event("speaking", timeout=EVENT_TIMEOUT)
    assert event["room"] == room and 0 < event["levels"][speaker] <= 1
    return next(r.at for r in client.log if r.message is event) - joined


async def test_joiners_on_the_other_node_see_the_steady_speaker(redis_url: str) -> None:
    async with cluster_nodes(redis_url, ["a", "b"]) as (a, b):
        host = await a.client("host")
        early = await a.client("early")
        peer = tone_peer(440.0, receive=False)
        clients = [host, early]
        try:
            room = (await host.call("create_room", title="steady"))["room"]["id"]
            await early.call("join_room", room=room)

            async def send(sdp: str) -> str:
                return str((await host.call("webrtc_offer", room=room, sdp=sdp))["sdp"])

            await connect(peer, send)  # the host's offer reaches A: A mixes the room
            await wait_for(lambda: any(e["levels"].get("host", 0) > 0 for e in speaking(early)),
                           timeout=EVENT_TIMEOUT)
            # The tone is steady: from here on the mixer reports no change for the host.
            first = await b.client("first")
            clients.append(first)
            took_first = await join_and_wait_speaking(first, room, "host")
            # B now has a member of the room: the next joiner is served from what B kept.
            second = await b.client("second")
            clients.append(second)
            took_second = await join_and_wait_speaking(second, room, "host")
            print(f"speaking after join on the non-owner node: first {took_first * 1000:.1f} ms"
                  f" (snapshot from Redis), second {took_second * 1000:.1f} ms (kept on B)")
        finally:
            await close_all([peer])
            await close_clients(clients)


async def test_a_silent_room_tells_a_joiner_elsewhere_nothing(redis_url: str) -> None:
    async with cluster_nodes(redis_url, ["a", "b"]) as (a, b):
        host = await a.client("host")
        peer = tone_peer(440.0, receive=False)
        clients = [host]
        try:
            room = (await host.call("create_room", title="quiet"))["room"]["id"]
            await host.call("mute", room=room)

            async def send(sdp: str) -> str:
                return str((await host.call("webrtc_offer", room=room, sdp=sdp))["sdp"])

            await connect(peer, send)
            listener = await b.client("listener")
            clients.append(listener)
            await listener.call("join_room", room=room)
            await listener.call("chat", room=room, text="anyone?")  # the join's events are in
            await asyncio.sleep(0.3)
            assert not [e for e in speaking(listener) if e["levels"].get("host")]
        finally:
            await close_all([peer])
            await close_clients(clients)
