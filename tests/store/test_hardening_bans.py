"""Issue 12, item 6: bans in a set of their own, a cap on them, no room on the event channel
for a commit that changed no state, and the change alone for one that did (docs/security.md).

A real redis-server: the room's blob holds no ban list; a chat line costs Redis and the
channel a header, not the room, and a join a header with the change in it (bytes measured
with INFO and on the channel itself, in a room of 300 members and 1,000 bans); another node's
copy of the room follows the bans without reading them again; the 1,001st ban is `forbidden`
on either store.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import redis.asyncio as aioredis

from protocol.errors import ErrorCode
from protocol.schema import Chat, CreateRoom, JoinRoom, KickMember
from rooms.machine import MAX_BANS, Actor, RoomError
from services.rooms import RoomService
from store.memory import MemoryStore
from store.redis import RedisStore
from store.wire import message_header, parse_message, unpack
from tests.support.redis import fresh_redis_url

MEMBERS = 300


def actor(user: str) -> Actor:
    return Actor(user, user.title())


@pytest.fixture
def redis_url() -> str:
    return fresh_redis_url()


async def big_room(service: RoomService, bans: int) -> str:
    room = (await service.execute(actor("host"), CreateRoom("big"))).room
    assert room is not None
    for i in range(MEMBERS):
        await service.execute(actor(f"member{i:04d}"), JoinRoom(room.id))
    # Made-up users banned, as the attacker did (cheaper than a kick each: one commit).
    stored = await service.store.load(room.id)
    assert stored is not None
    changed = stored.copy()
    changed.banned = {f"banned{i:05d}" for i in range(bans)}
    changed.version += 1
    await service.store.commit(stored, changed, [])
    return room.id


async def net_bytes(client: aioredis.Redis) -> int:
    stats = await client.info("stats")
    return int(stats["total_net_input_bytes"]) + int(stats["total_net_output_bytes"])


async def test_bans_live_in_a_set_and_a_chat_line_carries_no_room(redis_url: str) -> None:
    store = RedisStore(redis_url, "bans-node")
    service = RoomService(store)
    raw = aioredis.Redis.from_url(redis_url)
    pubsub = raw.pubsub()
    await pubsub.subscribe(store.keys.events)
    try:
        await service.start()
        room_id = await big_room(service, MAX_BANS - 1)
        # The blob holds no ban list; the set holds them all.
        blob = await raw.hget(store.keys.room(room_id), "b")
        assert "banned" not in unpack(blob)
        assert await raw.scard(store.keys.bans(room_id)) == MAX_BANS - 1
        # A fresh node reads the room with its bans.
        other = RedisStore(redis_url, "bans-other")
        loaded = await other.load(room_id)
        assert loaded is not None and len(loaded.banned) == MAX_BANS - 1
        await other.close()
        await drain(raw, pubsub, store.keys.events)

        # What a chat line costs, against what a change of the same room costs.
        before = await net_bytes(raw)
        for i in range(20):
            await service.execute(actor("member0001"), Chat(room_id, f"line {i:02d}"))
        chat_bytes = (await net_bytes(raw) - before) / 20
        chat_messages = await drain(raw, pubsub, store.keys.events)
        before = await net_bytes(raw)
        for i in range(20):
            await service.execute(actor(f"late{i:02d}"), JoinRoom(room_id))
        change_bytes = (await net_bytes(raw) - before) / 20
        change_messages = await drain(raw, pubsub, store.keys.events)
        assert len(chat_messages) == 20 and len(change_messages) == 20
        for message in chat_messages:
            _, header, room_blob = parse_message(message)
            assert header.get("u") == 1 and room_blob == b""
        for message in change_messages:
            _, header, room_blob = parse_message(message)
            assert "d" in header and room_blob == b""  # the join, not the room
        blob_size = len(await raw.hget(store.keys.room(room_id), "b"))
        chat_size = max(len(m) for m in chat_messages)
        change_size = max(len(m) for m in change_messages)
        print(f"\nroom of {MEMBERS} members ({blob_size} B), {MAX_BANS - 1} bans: channel "
              f"message {chat_size} B per chat line, {change_size} B per join; Redis in+out "
              f"{chat_bytes:.0f} B per chat line, {change_bytes:.0f} B per join "
              f"(ratio {chat_bytes / change_bytes:.3f})")
        assert chat_size < 300 and change_size < 600 < 10 * 600 < blob_size
        # A change still writes the room into Redis once; a chat line writes nothing.
        assert chat_bytes < 0.5 * change_bytes
    finally:
        await pubsub.aclose()
        await raw.aclose()
        await service.close()


async def drain(raw: aioredis.Redis, pubsub: Any, channel: str) -> list[bytes]:
    """Every message on the channel up to now (a marker published last ends the wait: a
    notice about no room, with no events, which the stores pass over)."""
    marker = b"0:" + message_header("-", 0, "marker", [])
    await raw.publish(channel, marker)
    out = []
    for _ in range(1000):
        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.05)
        if message is None:
            continue
        if message["data"] == marker:
            return out
        out.append(message["data"])
    raise AssertionError("the marker never came")


async def test_another_nodes_copy_follows_the_bans(redis_url: str) -> None:
    a, b = RedisStore(redis_url, "node-a"), RedisStore(redis_url, "node-b")
    on_a, on_b = RoomService(a), RoomService(b)
    delivered: list[str] = []
    on_b.set_sink(lambda room_id, room, events: delivered.extend(e.type for e in events))
    try:
        await on_a.start()
        await on_b.start()
        room = (await on_a.execute(actor("host"), CreateRoom("r"))).room
        assert room is not None
        await on_b.execute(actor("ann"), JoinRoom(room.id))  # b now keeps a copy
        await on_b.execute(actor("bob"), JoinRoom(room.id))
        await on_a.execute(actor("host"), KickMember(room.id, "bob", ban=True))
        await on_a.execute(actor("host"), KickMember(room.id, "nobody", ban=True))
        await on_a.execute(actor("host"), Chat(room.id, "state-free"))
        for _ in range(100):
            if "chat_message" in delivered:
                break
            await asyncio.sleep(0.02)
        assert "chat_message" in delivered
        copy, checked = await b.load_cached(room.id)
        assert copy is not None and not checked  # b's own copy, kept from the channel
        assert copy.banned == {"bob", "nobody"}
        with pytest.raises(RoomError) as err:
            await on_b.execute(actor("bob"), JoinRoom(room.id))
        assert err.value.code is ErrorCode.BANNED
    finally:
        await on_a.close()
        await on_b.close()


@pytest.mark.parametrize("kind", ["memory", "redis"])
async def test_the_bans_of_a_room_are_capped(kind: str) -> None:
    store = MemoryStore() if kind == "memory" else RedisStore(fresh_redis_url(), "cap")
    service = RoomService(store)
    try:
        room_id = (await service.execute(actor("host"), CreateRoom("r"))).room.id  # type: ignore[union-attr]
        stored = await store.load(room_id)
        assert stored is not None
        full = stored.copy()
        full.banned = {f"u{i}" for i in range(MAX_BANS)}
        full.version += 1
        await store.commit(stored, full, [])
        with pytest.raises(RoomError) as err:
            await service.execute(actor("host"), KickMember(room_id, "one-more", ban=True))
        assert err.value.code is ErrorCode.FORBIDDEN
        # Banning someone banned already changes nothing and is no refusal.
        await service.execute(actor("host"), KickMember(room_id, "u1", ban=True))
        assert len((await store.load(room_id)).banned) == MAX_BANS  # type: ignore[union-attr]
    finally:
        await service.close()
