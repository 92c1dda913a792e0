"""Issue 12, items 2, 3 and 8: what a frame costs before and after hello (docs/security.md).

- every frame takes a token from its connection's bucket, refused ones included;
- a connection that keeps sending frames that are no request, or anything but a good hello
  before hello, is closed (1008);
- a connection that does not say hello in time is closed (1008); the optional cap on
  connections per client address;
- a user's connections share one bucket, split over the nodes they are connected to; chat
  comes only from the connection that joined the room (one node, and two nodes sharing Redis).

Buckets run on a frozen clock where counts matter (no refill): exact counts, no timing.
"""

from __future__ import annotations

import asyncio

import pytest
from websockets.exceptions import InvalidStatus

from tests.support.redis import fresh_redis_url
from tests.support.server import RunningServer, WireClient, close_all, running_server


def freeze(srv: RunningServer) -> None:
    """No refill from here on: a bucket's tokens are exactly what is left of its burst."""
    srv.gateway.requests.clock = lambda: 1000.0


async def codes_of(client: WireClient, count: int) -> list[str]:
    """The next `count` replies without an id's request waiting on them."""
    out = []
    for _ in range(count):
        message = await client.next_message()
        out.append(message["type"] if message["type"] == "ok" else message["code"])
    return out


# --- item 2: every frame counts; bad frames close -------------------------------------------


async def test_refused_requests_take_tokens_too() -> None:
    async with running_server(rate=5.0, burst=10) as srv:
        freeze(srv)
        c = await srv.client("alice")  # hello took one of the ten
        for _ in range(9):
            # A request the validator refuses (no room): answered, and counted.
            reply = await c.request("chat", text="x")
            assert reply["code"] == "bad_request"
        assert (await c.request("list_rooms"))["code"] == "rate_limited"
        assert c.close_code is None  # a signed-in client is slowed down, not closed
        await c.close()


async def test_frames_that_are_no_request_close_the_connection() -> None:
    async with running_server() as srv:
        calm = await srv.client("calm")
        junk = await WireClient.connect(srv.url)
        for _ in range(200):
            try:
                await junk.send_raw(b"\xc1")  # never valid MessagePack
            except Exception:
                break  # closed under us
        assert await junk.closed() == 1008
        refused = [r.message for r in junk.log if r.message.get("code") == "bad_frame"]
        # Each was answered until the strikes ran out (half the burst of 40).
        assert 1 <= len(refused) <= 25, len(refused)
        assert (await calm.call("list_rooms"))["rooms"] == []
        # A signed-in client's bad frames count the same.
        signed = await srv.client("signed")
        for _ in range(200):
            try:
                await signed.send_raw("[1, 2]")
            except Exception:
                break
        assert await signed.closed() == 1008
        await calm.close()


async def test_requests_before_hello_close_the_connection() -> None:
    async with running_server() as srv:
        early = await WireClient.connect(srv.url)
        for _ in range(60):
            try:
                await early.send({"id": early.next_id(), "type": "list_rooms"})
            except Exception:
                break
        assert await early.closed() == 1008
        codes = {r.message.get("code") for r in early.log}
        assert codes == {"not_authenticated"}, codes


async def test_a_few_mistakes_are_answered_and_the_connection_kept() -> None:
    async with running_server() as srv:
        c = await WireClient.connect(srv.url)
        for _ in range(5):
            assert await c.error("list_rooms") == "not_authenticated"
        await c.call("hello", user="late")
        await c.send_raw(b"\xc1")
        assert (await c.next_message())["code"] == "bad_frame"
        assert (await c.call("list_rooms"))["rooms"] == []
        await c.close()


# --- item 3: idle slots -----------------------------------------------------------------------


async def test_a_connection_without_hello_is_closed_in_time() -> None:
    async with running_server(hello_timeout=0.3, max_connections=3) as srv:
        idle = [await WireClient.connect(srv.url) for _ in range(3)]
        # The slots are full while they idle...
        with pytest.raises(InvalidStatus):
            await WireClient.connect(srv.url)
        assert [await c.closed() for c in idle] == [1008, 1008, 1008]
        # ... and free again once they are gone; a client that says hello stays.
        await asyncio.sleep(0.1)
        kept = await srv.client("kept")
        await asyncio.sleep(0.5)
        assert kept.close_code is None
        assert (await kept.call("list_rooms"))["rooms"] == []
        await kept.close()


async def test_connections_per_address_are_capped_when_asked() -> None:
    async with running_server(max_connections_per_address=2) as srv:
        a = await srv.client("a")
        b = await srv.client("b")
        with pytest.raises(InvalidStatus) as info:
            await WireClient.connect(srv.url)
        assert info.value.response.status_code == 429
        await a.close()
        await asyncio.sleep(0.1)
        c = await srv.client("c")
        await close_all([b, c])


async def test_no_cap_per_address_by_default() -> None:
    async with running_server() as srv:
        clients = [await srv.client(f"u{i}") for i in range(12)]
        await close_all(clients)


# --- item 8: per user, and chat from the joined connection ------------------------------------


async def test_a_users_connections_share_one_bucket() -> None:
    async with running_server(rate=5.0, burst=10) as srv:
        sockets = [await srv.client("many") for _ in range(4)]
        other = await srv.client("other")
        freeze(srv)
        for c in sockets:
            for _ in range(5):
                await c.send({"id": c.next_id(), "type": "list_rooms"})
        codes = []
        for c in sockets:
            codes += await codes_of(c, 5)
        # Ten a burst per user (hello counts per socket only), whichever socket asks; each
        # socket alone was well within its own ten.
        assert codes.count("ok") == 10 and codes.count("rate_limited") == 10, codes
        assert (await other.call("list_rooms"))["rooms"] == []
        await close_all([*sockets, other])


async def test_a_users_budget_is_split_over_the_nodes_they_use() -> None:
    url = fresh_redis_url()
    async with running_server(redis=url, node_id="share-a", rate=5.0, burst=10) as a, \
            running_server(redis=url, node_id="share-b", rate=5.0, burst=10) as b:
        on_a = [await a.client("many") for _ in range(2)]
        on_b = [await b.client("many") for _ in range(2)]
        nodes = ((a, on_a), (b, on_b))
        for srv, sockets in nodes:
            freeze(srv)
            for c in sockets:
                assert (await c.call("list_rooms"))["rooms"] == []  # eight left on each node
        for srv, _ in nodes:
            await srv.gateway.requests.refresh_shares()  # (the gateway does so every second)
        codes = []
        for _, sockets in nodes:
            for c in sockets:
                for _ in range(5):
                    await c.send({"id": c.next_id(), "type": "list_rooms"})
            for c in sockets:
                codes += await codes_of(c, 5)
        # Five a node (half of the ten): ten for the user, however the sockets are spread.
        assert codes.count("ok") == 10 and codes.count("rate_limited") == 10, codes

        # Alone on one node again: the whole budget there (refilling from what is left).
        await close_all(on_b)
        requests = a.gateway.requests
        for _ in range(100):
            await requests.refresh_shares()
            if (requests._users["many"].rate, requests._users["many"].burst) == (5.0, 10):
                break
            await asyncio.sleep(0.05)  # b's closes reach presence
        assert (requests._users["many"].rate, requests._users["many"].burst) == (5.0, 10)
        await close_all(on_a)


async def check_chat_only_from_the_joined_connection(a: RunningServer,
                                                     b: RunningServer) -> None:
    host = await a.client("host")
    room = (await host.call("create_room", title="chat"))["room"]["id"]
    joined = await a.client("ann")
    other = await b.client("ann")  # the same user, another socket (on b: another node)
    stranger = await b.client("zed")
    try:
        await joined.call("join_room", room=room)
        assert await other.error("chat", room=room, text="from the side") == "not_in_room"
        # The room's own refusals keep their order.
        assert await other.error("chat", room="nosuchroom", text="x") == "no_such_room"
        assert await stranger.error("chat", room=room, text="x") == "not_in_room"
        await joined.call("chat", room=room, text="from the joined one")
        line = await host.event("chat_message", timeout=10)
        assert line["text"] == "from the joined one"
        lines = [m for m in await host.quiet(0.3) if m["type"] == "chat_message"]
        assert lines == []  # the refused ones reached nobody
    finally:
        await close_all([host, joined, other, stranger])


async def test_chat_only_from_the_connection_that_joined() -> None:
    async with running_server() as srv:
        await check_chat_only_from_the_joined_connection(srv, srv)


async def test_chat_only_from_the_connection_that_joined_across_nodes() -> None:
    url = fresh_redis_url()
    async with running_server(redis=url, node_id="frames-a") as a, \
            running_server(redis=url, node_id="frames-b") as b:
        await check_chat_only_from_the_joined_connection(a, b)
