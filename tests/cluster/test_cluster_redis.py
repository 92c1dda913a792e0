"""cluster.cluster: media ownership, offer forwarding and node loss, on a real Redis with real
MediaEngines and real aiortc peers (two "nodes" in one process, each with its own connections).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from cluster.cluster import Cluster
from media.engine import MediaEngine
from protocol.errors import ErrorCode, ProtocolError
from protocol.schema import CloseRoom, CreateRoom, JoinRoom, OpenChatroom, SeatMode, TakeSeat
from rooms.machine import Actor, Event
from rooms.model import Room
from services.rooms import RoomService
from store.redis import RedisStore
from tests.support.redis import fresh_redis_url
from tests.support.rtc import ClientMedia, close_all, connect, tone_peer, wait_for

# Short enough that a test sees a node die within seconds, long enough that a busy machine
# does not make a live node look dead.
TIMINGS = {"lease": 1.5, "node_ttl": 1.5, "heartbeat": 0.2, "offer_timeout": 10.0}


@pytest.fixture
def redis_url() -> str:
    return fresh_redis_url()


class Node:
    def __init__(self, url: str, node_id: str, *, media: bool = True) -> None:
        self.store = RedisStore(url, node_id)
        self.service = RoomService(self.store, grace=30.0, host_grace=60.0)
        self.engine = MediaEngine() if media else None
        self.delivered: list[tuple[str, Room | None, list[Event]]] = []
        self.lost: list[tuple[str, str]] = []
        self.back: list[tuple[str, str]] = []
        self.service.set_sink(lambda rid, room, events: self.delivered.append((rid, room, events)))
        self.cluster = Cluster(self.store, self.engine, on_presence_lost=self._lost,
                               on_presence_back=self._back, **TIMINGS)

    async def _lost(self, room_id: str, user: str) -> None:
        await self.service.connection_lost(Actor(user, user), room_id)
        self.lost.append((room_id, user))  # after: a test waiting for it sees the commit

    async def _back(self, room_id: str, user: str) -> None:
        await self.service.execute(Actor(user, user), JoinRoom(room_id))
        self.back.append((room_id, user))

    async def start(self) -> None:
        await self.service.start()
        await self.cluster.start()

    async def crash(self) -> None:
        """Die without a word: loops stop, nothing is cleaned up, the heartbeat lapses."""
        for task in self.cluster._loops:
            task.cancel()
        await asyncio.gather(*self.cluster._loops, return_exceptions=True)
        self.cluster._loops = []
        if self.engine is not None:
            await self.engine.close()

    async def stop(self) -> None:
        await self.cluster.close()
        if self.engine is not None:
            await self.engine.close()
        await self.service.close()

    def room_states(self, room_id: str) -> int:
        return sum(1 for rid, _, events in self.delivered if rid == room_id
                   for e in events if e.type == "room_state")


@contextlib.asynccontextmanager
async def two_nodes(url: str, *, media_b: bool = True) -> AsyncIterator[tuple[Node, Node]]:
    a, b = Node(url, "node-a"), Node(url, "node-b", media=media_b)
    await a.start()
    await b.start()
    try:
        yield a, b
    finally:
        await b.stop()
        await a.stop()


async def room_with(node: Node, *users: str) -> str:
    outcome = await node.service.execute(
        Actor("host", "Host"), CreateRoom("Media", seat_mode=SeatMode.FREE, auto_chatroom_at=0)
    )
    assert outcome.room is not None
    await node.service.execute(Actor("host", "Host"), OpenChatroom(outcome.room.id))
    for user in users:
        await node.service.execute(Actor(user, user), JoinRoom(outcome.room.id))
    return outcome.room.id


async def offer_via(node: Node, room_id: str, user: str, peer: ClientMedia) -> ClientMedia:
    async def send(sdp: str) -> str:
        return await node.cluster.offer(room_id, user, sdp)

    return await connect(peer, send)


def peers_on(node: Node, room_id: str) -> set[str]:
    assert node.engine is not None
    media = node.engine.rooms.get(room_id)
    return set(media.peers) if media is not None else set()


async def test_the_first_offer_claims_the_room_and_others_are_forwarded(redis_url: str) -> None:
    async with two_nodes(redis_url) as (a, b):
        room_id = await room_with(a, "guest")
        peers = [tone_peer(440.0), tone_peer(None)]
        try:
            await offer_via(a, room_id, "host", peers[0])
            assert await a.cluster.owner_of(room_id) == "node-a"
            # The guest's offer reaches node B; node A's engine answers it.
            await offer_via(b, room_id, "guest", peers[1])
            assert peers_on(a, room_id) == {"host", "guest"}
            assert peers_on(b, room_id) == set()
            assert b.cluster.owns(room_id) is False
        finally:
            await close_all(peers)


async def test_forwarded_refusals_keep_their_code(redis_url: str) -> None:
    async with two_nodes(redis_url) as (a, b):
        room_id = await room_with(a)
        peer = tone_peer(None)
        try:
            await offer_via(a, room_id, "host", peer)
            with pytest.raises(ProtocolError) as refused:
                await b.cluster.offer(room_id, "stranger", "v=0\r\n")
            assert refused.value.code is ErrorCode.NOT_IN_ROOM
            await b.service.execute(Actor("guest", "guest"), JoinRoom(room_id))
            with pytest.raises(ProtocolError) as bad:
                await b.cluster.offer(room_id, "guest", "not an sdp")
            assert bad.value.code is ErrorCode.BAD_REQUEST
        finally:
            await close_all([peer])


async def test_simultaneous_first_offers_agree_on_one_owner(redis_url: str) -> None:
    async with two_nodes(redis_url) as (a, b):
        room_id = await room_with(a, "g1", "g2")
        peers = [tone_peer(None), tone_peer(None)]
        try:
            await asyncio.gather(offer_via(a, room_id, "g1", peers[0]),
                                 offer_via(b, room_id, "g2", peers[1]))
            owner = await a.cluster.owner_of(room_id)
            winner, loser = (a, b) if owner == "node-a" else (b, a)
            assert peers_on(winner, room_id) == {"g1", "g2"}
            assert peers_on(loser, room_id) == set()
        finally:
            await close_all(peers)


async def test_a_node_without_media_never_owns_a_room(redis_url: str) -> None:
    async with two_nodes(redis_url, media_b=False) as (a, b):
        room_id = await room_with(a, "guest")
        with pytest.raises(ProtocolError) as refused:
            await b.cluster.offer(room_id, "guest", "v=0\r\n")
        assert refused.value.code is ErrorCode.INTERNAL
        assert await a.cluster.owner_of(room_id) is None
        peers = [tone_peer(None), tone_peer(None)]
        try:
            await offer_via(a, room_id, "host", peers[0])
            await offer_via(b, room_id, "guest", peers[1])  # once A owns it, B forwards
            assert peers_on(a, room_id) == {"host", "guest"}
        finally:
            await close_all(peers)


async def test_the_owner_keeps_its_lease_and_drops_it_when_the_room_closes(
    redis_url: str,
) -> None:
    async with two_nodes(redis_url) as (a, _b):
        room_id = await room_with(a)
        peer = tone_peer(None)
        try:
            await offer_via(a, room_id, "host", peer)
            await asyncio.sleep(TIMINGS["lease"] * 3)  # several lease periods: renewed
            assert await a.cluster.owner_of(room_id) == "node-a"
            await a.service.execute(Actor("host", "Host"), CloseRoom(room_id))
            await wait_for(lambda: not a.cluster.owns(room_id), 5.0)
            assert await a.cluster.owner_of(room_id) is None
            assert peers_on(a, room_id) == set()
        finally:
            await close_all([peer])


async def test_when_the_owner_dies_members_are_told_and_a_survivor_takes_the_room(
    redis_url: str,
) -> None:
    async with two_nodes(redis_url) as (a, b):
        room_id = await room_with(a, "guest", "sitter")
        await b.service.execute(Actor("sitter", "sitter"), TakeSeat(room_id, 1))
        await a.cluster.joined(room_id, "host")
        await b.cluster.joined(room_id, "guest")
        await a.cluster.joined(room_id, "sitter")
        first = [tone_peer(440.0), tone_peer(None)]
        second = tone_peer(None)
        try:
            await offer_via(a, room_id, "host", first[0])
            await offer_via(b, room_id, "guest", first[1])

            await a.crash()
            # B sees A's heartbeat lapse: members get room_state so they offer again ...
            await wait_for(lambda: b.room_states(room_id) > 0, 10.0)
            assert await b.cluster.owner_of(room_id) is None
            # ... and the next offer makes B the owner.
            await offer_via(b, room_id, "guest", second)
            assert await b.cluster.owner_of(room_id) == "node-b"
            assert peers_on(b, room_id) == {"guest"}
            # Whoever was connected through A is now away (grace runs); B's own users are not.
            await wait_for(lambda: len(b.lost) == 2, 10.0)
            assert sorted(b.lost) == [(room_id, "host"), (room_id, "sitter")]
            room = await b.store.load(room_id)
            assert room is not None
            assert room.members["host"].away_until is not None
            assert room.members["sitter"].away_until is not None
            assert room.members["guest"].away_until is None
            assert room.seat_at(1) is not None and room.seat_at(1).away  # type: ignore[union-attr]
        finally:
            await close_all([*first, second])


async def test_an_offer_to_a_dead_owner_takes_over_at_once(redis_url: str) -> None:
    async with two_nodes(redis_url) as (a, b):
        room_id = await room_with(a, "guest")
        peers = [tone_peer(None), tone_peer(None)]
        try:
            await offer_via(a, room_id, "host", peers[0])
            await a.crash()
            # Faster than the watcher: the lease still names A, but A no longer listens.
            await offer_via(b, room_id, "guest", peers[1])
            assert await b.cluster.owner_of(room_id) == "node-b"
            assert b.room_states(room_id) >= 1, "members were told to offer again"
        finally:
            await close_all(peers)


async def test_a_stalled_node_taken_for_dead_brings_its_members_back(redis_url: str) -> None:
    async with two_nodes(redis_url) as (a, b):
        room_id = await room_with(a, "sitter")
        await a.service.execute(Actor("sitter", "sitter"), TakeSeat(room_id, 0))
        await a.cluster.joined(room_id, "sitter")
        beating = next(t for t in a.cluster._loops if t.get_name() == "cluster-heartbeat")
        beating.cancel()  # A stops beating, as if its loop were stuck
        await asyncio.gather(beating, return_exceptions=True)

        await wait_for(lambda: b.lost == [(room_id, "sitter")], 10.0)
        room = await b.store.load(room_id)
        assert room is not None and room.members["sitter"].away_until is not None

        # A beats again: it finds itself struck off, restores its presence, and the member's
        # connection joins again, which takes the away seat back.
        a.cluster._loops.append(asyncio.create_task(a.cluster._heartbeat_loop()))
        await wait_for(lambda: a.back == [(room_id, "sitter")], 10.0)
        room = await b.store.load(room_id)
        assert room is not None
        assert room.members["sitter"].away_until is None
        assert room.seated_users() == {"sitter": 0}
        assert not room.seats[0].away
        assert await b.store.redis.sismember(a.cluster.keys.presence("node-a"),
                                             f"{room_id}\tsitter")
