"""The edge relay's datagrams (cluster/relay.py): an edge node takes the owner's packets and
nothing else. A real relay socket on loopback and a real Redis, where the owner's key lives;
the test plays the owner and a stranger."""

from __future__ import annotations

import asyncio
import socket

from cluster.relay import MixRelay, parse, seal
from store.redis import RedisStore
from store.wire import pack
from tests.support.rtc import wait_for

ROOM = "r1"
KEY = bytes(range(32))
KEY_ID = 7


def test_a_sealed_datagram_parses_back() -> None:
    data = seal(KEY, KEY_ID, 1234, ROOM, b"opus")
    parsed = parse(data)
    assert parsed is not None
    key_id, tick, room_id, payload, signed, tag = parsed
    assert (key_id, tick, room_id, bytes(payload)) == (KEY_ID, 1234, ROOM, b"opus")
    assert bytes(signed) + bytes(tag) == data
    for bad in (b"", b"VR1", b"XX1" + data[3:], data[:20]):
        assert parse(bad) is None


async def test_the_edge_takes_the_owners_packets_only(redis_url: str) -> None:
    store = RedisStore(redis_url, "edge")
    got: list[tuple[str, int, int, bytes]] = []

    async def owner_of(room_id: str) -> str | None:
        return "owner"

    relay = MixRelay(store, host="127.0.0.1", advertised="127.0.0.1", owner_of=owner_of,
                     owns=lambda room_id: False, wanted=lambda: [ROOM],
                     on_packet=lambda *packet: got.append(packet), engine=None, refresh=0.05)
    # The owner's key, where the owner keeps it.
    await store.redis.set(store.keys.relay(ROOM), pack({"node": "owner", "id": KEY_ID,
                                                        "key": KEY}))
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        address = await relay.start()
        await wait_for(lambda: (sub := relay.subscriptions.get(ROOM)) is not None
                       and sub.key == KEY)

        def send(data: bytes) -> None:
            sender.sendto(data, address)

        send(seal(KEY, KEY_ID, 10, ROOM, b"first"))
        await wait_for(lambda: len(got) == 1)
        rejected = relay.rejected
        send(seal(KEY, KEY_ID, 10, ROOM, b"replayed"))  # the same tick again
        send(seal(KEY, KEY_ID, 9, ROOM, b"older"))
        send(seal(bytes(32), KEY_ID, 11, ROOM, b"a stranger's key"))
        forged = bytearray(seal(KEY, KEY_ID, 12, ROOM, b"tampered"))
        forged[-20] ^= 1  # a payload byte
        send(bytes(forged))
        send(seal(KEY, KEY_ID + 1, 13, ROOM, b"another key id"))
        send(seal(KEY, KEY_ID, 14, "r2", b"a room not asked for"))
        send(b"\x00garbage")
        await wait_for(lambda: relay.rejected == rejected + 7)
        send(seal(KEY, KEY_ID, 15, ROOM, b"next"))
        await wait_for(lambda: len(got) == 2)
        assert got == [(ROOM, KEY_ID, 10, b"first"), (ROOM, KEY_ID, 15, b"next")]
    finally:
        sender.close()
        await relay.close()
        await store.close()


async def test_the_edge_subscribes_with_the_owner_and_leaves_when_not_wanted(
    redis_url: str,
) -> None:
    store = RedisStore(redis_url, "edge")
    wanted = [ROOM]
    inbox: asyncio.Queue[bytes] = asyncio.Queue()

    async def owner_of(room_id: str) -> str | None:
        return "owner"

    pubsub = store.redis.pubsub()
    await pubsub.subscribe(store.keys.inbox("owner"))
    relay = MixRelay(store, host="127.0.0.1", advertised="127.0.0.1", owner_of=owner_of,
                     owns=lambda room_id: False, wanted=lambda: list(wanted),
                     on_packet=lambda *packet: None, engine=None, refresh=0.05)

    async def read() -> None:
        async for message in pubsub.listen():
            if message["type"] == "message":
                inbox.put_nowait(message["data"])

    reader = asyncio.create_task(read())
    try:
        from store.wire import unpack

        address = await relay.start()
        first = unpack(await asyncio.wait_for(inbox.get(), 5))
        assert first == {"k": "edge", "room": ROOM, "from": "edge", "addr": list(address)}
        wanted.clear()
        while (message := unpack(await asyncio.wait_for(inbox.get(), 5)))["k"] == "edge":
            pass
        assert message == {"k": "edge-", "room": ROOM, "from": "edge"}
    finally:
        reader.cancel()
        await relay.close()
        await pubsub.aclose()
        await store.close()
