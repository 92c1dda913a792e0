"""Two gateways in this process sharing one real Redis: events and replacement across nodes."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from cluster.nodes import parse_presence
from tests.support.redis import flush_sync, require_redis
from tests.support.server import RunningServer, close_all, running_server


@pytest.fixture
def redis_url() -> str:
    url = require_redis()
    flush_sync(url)
    return url


@contextlib.asynccontextmanager
async def two_nodes(url: str) -> AsyncIterator[tuple[RunningServer, RunningServer]]:
    async with running_server(redis=url, node_id="node-a", grace=0.5) as a, \
            running_server(redis=url, node_id="node-b", grace=0.5) as b:
        yield a, b


async def test_joining_on_another_node_replaces_the_older_connection(redis_url: str) -> None:
    async with two_nodes(redis_url) as (a, b):
        host = await a.client("host")
        room = (await host.call("create_room", title="x", seat_mode="free"))["room"]["id"]
        old = await a.client("ann")
        await old.call("join_room", room=room)
        await old.call("take_seat", room=room, seat=0)
        new = await b.client("ann")
        joined = await new.call("join_room", room=room)
        assert joined["room"]["seats"][0]["user"] == "ann"
        assert (await old.event("replaced", timeout=10))["room"] == room
        assert await old.closed() == 4000
        # The newer connection on B keeps the room: events from A reach it.
        await host.call("chat", room=room, text="to ann on b")
        assert (await new.event("chat_message", timeout=10))["text"] == "to ann on b"
        assert new.close_code is None
        # And the replaced socket's close did not mark the seat away.
        seats = [m for m in await host.quiet(1.0) if m["type"] == "seat_changed"]
        assert all(not m["seat"]["away"] for m in seats)
        await close_all([host, new])


async def test_kick_on_one_node_unsubscribes_on_the_other(redis_url: str) -> None:
    async with two_nodes(redis_url) as (a, b):
        host = await a.client("host")
        room = (await host.call("create_room", title="x"))["room"]["id"]
        guest = await b.client("guest")
        await guest.call("join_room", room=room)
        await host.call("kick_member", room=room, user="guest")
        assert (await guest.event("kicked", timeout=10))["reason"] == "kicked"
        await host.call("chat", room=room, text="after")
        await host.event("chat_message", timeout=10)
        assert [m for m in await guest.quiet(0.5) if m["type"] == "chat_message"] == []
        assert room not in b.gateway.delivery.rooms
        await close_all([host, guest])


async def test_speaking_levels_reach_members_on_the_other_node_once(redis_url: str) -> None:
    async with two_nodes(redis_url) as (a, b):
        host = await a.client("host")
        room = (await host.call("create_room", title="x"))["room"]["id"]
        guest = await b.client("guest")
        await guest.call("join_room", room=room)
        # A owns the room's media here: its mixer reports levels through the gateway's callback.
        a.gateway.delivery.levels(room, {"host": 0.7})
        assert (await guest.event("speaking", timeout=10))["levels"] == {"host": 0.7}
        assert (await host.event("speaking", timeout=10))["levels"] == {"host": 0.7}
        # Each member gets it once: A's own members are not served again from the channel.
        later = await host.quiet(0.5) + await guest.quiet(0.1)
        assert [m for m in later if m["type"] == "speaking"] == []
        await close_all([host, guest])


async def presence_of(node: RunningServer, node_id: str) -> set[tuple[str, str]]:
    """The (room, user) entries a node recorded in Redis as connected through it."""
    redis = node.store.redis
    raw = await redis.smembers(node.store.keys.presence(node_id))
    return {parse_presence(entry.decode() if isinstance(entry, bytes) else entry)
            for entry in raw}


async def test_presence_follows_the_subscriptions_kicks_and_replacements_included(
        redis_url: str) -> None:
    async with two_nodes(redis_url) as (a, b):
        host = await a.client("host")
        room = (await host.call("create_room", title="x"))["room"]["id"]
        ann = await b.client("ann")
        await ann.call("join_room", room=room)
        assert (room, "ann") in await presence_of(b, "node-b")
        # Kicked: no longer connected to the room through B (a stale entry would mark her
        # away, should B die).
        await host.call("kick_member", room=room, user="ann")
        await ann.event("kicked", timeout=10)
        await wait_until(lambda: presence_of(b, "node-b"), lambda got: (room, "ann") not in got)
        # Replaced by a newer connection on A: the entry moves from B to A.
        bob_b = await b.client("bob")
        await bob_b.call("join_room", room=room)
        bob_a = await a.client("bob")
        await bob_a.call("join_room", room=room)
        assert await bob_b.closed() == 4000
        await wait_until(lambda: presence_of(b, "node-b"), lambda got: (room, "bob") not in got)
        assert (room, "bob") in await presence_of(a, "node-a")
        # The host's own close ends every entry of the room.
        await host.call("close_room", room=room)
        await wait_until(lambda: presence_of(a, "node-a"),
                         lambda got: not any(r == room for r, _ in got))
        await close_all([host, ann, bob_b, bob_a])


async def wait_until(read: Callable[[], Awaitable[set[tuple[str, str]]]],
                     done: Callable[[set[tuple[str, str]]], bool], timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        got = await read()
        if done(got):
            return
        assert asyncio.get_running_loop().time() < deadline, f"still {sorted(got)}"
        await asyncio.sleep(0.02)
