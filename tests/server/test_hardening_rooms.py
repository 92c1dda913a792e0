"""Issue 12, item 1: rooms one user may host at once, and offers one user may have in flight
(docs/security.md). Real servers on loopback; the shared-state bound also on two nodes
sharing a real Redis, where the count and the creation are one atomic step."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from client.media import ClientMedia
from tests.support.redis import fresh_redis_url
from tests.support.server import RunningServer, WireClient, close_all, running_server

LIMIT = 3


@pytest.fixture
def redis_url() -> str:
    return fresh_redis_url()


@contextlib.asynccontextmanager
async def nodes(redis_url: str | None) -> AsyncIterator[list[RunningServer]]:
    """One in-memory node, or two nodes on one Redis."""
    if redis_url is None:
        async with running_server(max_rooms_per_host=LIMIT) as one:
            yield [one]
        return
    async with running_server(redis=redis_url, node_id="hard-a", max_rooms_per_host=LIMIT) as a, \
            running_server(redis=redis_url, node_id="hard-b", max_rooms_per_host=LIMIT) as b:
        yield [a, b]


async def create(client: WireClient, title: str) -> dict[str, object]:
    return await client.request("create_room", title=title)


async def check_host_bound(servers: list[RunningServer]) -> None:
    clients = [await server.client("streamer") for server in servers]
    other = await servers[-1].client("other")
    try:
        rooms = []
        for i in range(LIMIT):
            reply = await create(clients[i % len(clients)], f"room {i}")
            assert reply["type"] == "ok", reply
            rooms.append(reply["room"]["id"])  # type: ignore[index]
        for client in clients:
            refused = await create(client, "one too many")
            assert refused["code"] == "forbidden", refused
            assert f"{LIMIT} rooms" in str(refused["message"])
        # Someone else is not touched by the streamer's bound.
        assert (await create(other, "mine"))["type"] == "ok"
        # Closing one frees a place, on any node.
        await clients[0].call("close_room", room=rooms[0])
        assert (await create(clients[-1], "again"))["type"] == "ok"
        assert (await create(clients[0], "past it"))["code"] == "forbidden"
        # Creations racing on every node: exactly the free places are given.
        await clients[-1].call("close_room", room=rooms[1])
        await clients[-1].call("close_room", room=rooms[2])
        replies = await asyncio.gather(*(create(clients[i % len(clients)], f"race {i}")
                                         for i in range(8)))
        codes = sorted(str(r["type"] if r["type"] == "ok" else r["code"]) for r in replies)
        assert codes.count("ok") == 2 and codes.count("forbidden") == 6, codes
    finally:
        await close_all([*clients, other])


async def test_rooms_per_host_on_one_node() -> None:
    async with nodes(None) as servers:
        await check_host_bound(servers)


async def test_rooms_per_host_on_two_nodes_sharing_redis(redis_url: str) -> None:
    async with nodes(redis_url) as servers:
        await check_host_bound(servers)


async def test_the_default_lets_a_streamer_keep_five_rooms_open() -> None:
    async with running_server() as srv:
        c = await srv.client("streamer")
        for i in range(5):
            await c.call("create_room", title=f"room {i}")
        assert (await create(c, "sixth"))["code"] == "forbidden"
        await c.close()


async def test_offers_in_flight_per_user_are_bounded() -> None:
    async with running_server(media=True, offers_in_flight=2) as srv:
        if srv.media is None:
            pytest.fail("the media engine should be there")
        c = await srv.client("host")
        room = (await c.call("create_room", title="offers"))["room"]["id"]
        peers = [ClientMedia(None, receive=True) for _ in range(6)]
        try:
            offers = [await peer.offer() for peer in peers]
            # Sent back to back: the server reads them all while the first answers gather ICE.
            futures = [c.request("webrtc_offer", room=room, sdp=sdp) for sdp in offers]
            replies = await asyncio.gather(*futures)
            codes = [r["type"] if r["type"] == "ok" else r["code"] for r in replies]
            assert codes.count("ok") >= 2 and codes.count("rate_limited") >= 1, codes
            assert set(codes) <= {"ok", "rate_limited"}, codes
            # The slots are given back: one more offer is answered.
            assert (await c.request("webrtc_offer", room=room, sdp=offers[0]))["type"] == "ok"
        finally:
            await asyncio.gather(*(peer.close() for peer in peers))
            await c.close()
