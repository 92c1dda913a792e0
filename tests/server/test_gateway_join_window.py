"""Two gateways on one real Redis: what another node commits while a join is in flight.

The window between a join's commit and its reply is held open on purpose: node B's service
waits, after committing the join, until node B's Redis listener has handed over a batch from
node A. Everything else (websockets, Redis, both nodes) is the real stack.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from protocol.schema import JoinRoom
from rooms.events import Event
from rooms.model import Room
from tests.support.redis import fresh_redis_url
from tests.support.server import RunningServer, WireClient, close_all, running_server

WAIT = 10.0


@pytest.fixture
def redis_url() -> str:
    return fresh_redis_url()


@contextlib.asynccontextmanager
async def two_nodes(url: str) -> AsyncIterator[tuple[RunningServer, RunningServer]]:
    async with running_server(redis=url, node_id="node-a") as a, \
            running_server(redis=url, node_id="node-b") as b:
        yield a, b


def hold_join(node: RunningServer, user: str,
              in_window: Callable[[], Awaitable[None]]) -> None:
    """Run `in_window` on `node` after `user`'s join_room committed, before it is answered."""
    execute = node.service.execute

    async def held(actor: Any, command: Any) -> Any:
        outcome = await execute(actor, command)
        if isinstance(command, JoinRoom) and actor.user == user:
            await in_window()
        return outcome

    node.service.execute = held


def chats_to_node(node: RunningServer) -> asyncio.Queue[str]:
    """Texts of the chat batches `node` takes from Redis, once its gateway has them."""
    texts: asyncio.Queue[str] = asyncio.Queue()
    delivery = node.gateway.delivery

    async def sink(room_id: str, room: Room | None, events: list[Event]) -> None:
        await delivery.deliver(room_id, room, events)
        for event in events:
            if event.type == "chat_message":
                texts.put_nowait(event.data["text"])

    node.service.set_sink(sink)
    return texts


def position(client: WireClient, predicate: Callable[[dict[str, Any]], bool]) -> int:
    return next(i for i, got in enumerate(client.log) if predicate(got.message))


async def test_an_event_committed_during_the_join_reaches_the_joiner_after_the_reply(
        redis_url: str) -> None:
    async with two_nodes(redis_url) as (a, b):
        host = await a.client("host")
        room = (await host.call("create_room", title="x"))["room"]["id"]
        late = await b.client("late")
        on_b = chats_to_node(b)

        async def chat_from_a() -> None:
            await host.call("chat", room=room, text="during the join")
            assert await asyncio.wait_for(on_b.get(), WAIT) == "during the join"

        hold_join(b, "late", chat_from_a)
        reply = await late.request("join_room", room=room)
        assert reply["type"] == "ok"
        chat = await late.event("chat_message", timeout=WAIT)
        assert chat["text"] == "during the join"
        # docs/protocol.md: the reply first, the events after it.
        assert position(late, lambda m: m.get("id") == reply["id"]) < \
            position(late, lambda m: m.get("type") == "chat_message")
        # And the joiner is subscribed for good.
        await host.call("chat", room=room, text="later")
        assert (await late.event("chat_message", timeout=WAIT))["text"] == "later"
        await close_all([host, late])


async def test_a_batch_from_before_the_join_arriving_in_the_window_is_not_sent(
        redis_url: str) -> None:
    async with two_nodes(redis_url) as (a, b):
        host = await a.client("host")
        room = (await host.call("create_room", title="x"))["room"]["id"]
        # A member on B, so that B serves the room before the join.
        watcher = await b.client("watcher")
        await watcher.call("join_room", room=room)
        committed = asyncio.Event()
        released = asyncio.Event()
        delivery = b.gateway.delivery

        async def late_sink(room_id: str, state: Room | None, events: list[Event]) -> None:
            # B's listener lags: the chat from before the join comes in after its commit.
            if any(e.data.get("text") == "before" for e in events):
                await asyncio.wait_for(committed.wait(), WAIT)
            await delivery.deliver(room_id, state, events)
            if any(e.data.get("text") == "before" for e in events):
                released.set()

        b.service.set_sink(late_sink)

        async def let_it_in() -> None:
            committed.set()
            await asyncio.wait_for(released.wait(), WAIT)

        hold_join(b, "late", let_it_in)
        await host.call("chat", room=room, text="before")
        late = await b.client("late")
        await late.call("join_room", room=room)
        assert (await watcher.event("chat_message", timeout=WAIT))["text"] == "before"
        await host.call("chat", room=room, text="after")
        # The first chat the joiner sees is the one from after its join.
        assert (await late.event("chat_message", timeout=WAIT))["text"] == "after"
        await close_all([host, watcher, late])


async def test_a_refused_join_leaves_nothing_behind(redis_url: str) -> None:
    async with two_nodes(redis_url) as (a, b):
        host = await a.client("host")
        room = (await host.call("create_room", title="x"))["room"]["id"]
        await host.call("kick_member", room=room, user="rob", ban=True)
        rob = await b.client("rob")
        assert await rob.error("join_room", room=room) == "banned"
        await host.call("chat", room=room, text="not for rob")
        watcher = await b.client("watcher")
        await watcher.call("join_room", room=room)
        await host.call("chat", room=room, text="for the watcher")
        assert (await watcher.event("chat_message", timeout=WAIT))["text"] == "for the watcher"
        assert [m for m in rob.drain() if m.get("type") == "chat_message"] == []
        assert room not in rooms_of(b, "rob")
        await close_all([host, rob, watcher])


def rooms_of(node: RunningServer, user: str) -> set[str]:
    return {room for conn in node.gateway.connections if conn.user == user
            for room in conn.rooms}
