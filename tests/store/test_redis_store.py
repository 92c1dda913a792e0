"""RedisStore beyond the shared contract: several nodes on one real redis-server."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError

from protocol.errors import ErrorCode
from protocol.schema import (
    Chat,
    CloseRoom,
    CreateRoom,
    JoinRoom,
    KickMember,
    LeaveSeat,
    OpenChatroom,
    RequestMic,
    SeatMode,
    SetAdmin,
    TakeSeat,
)
from rooms.machine import Actor, Event, RoomError, apply
from rooms.model import Room
from services.rooms import RoomService
from store.base import Conflict
from store.redis import RedisStore
from tests.support.redis import RedisServer, fresh_redis_url

Delivery = tuple[str, Room | None, list[Event]]


@pytest.fixture
def redis_url() -> str:
    return fresh_redis_url()


class Node:
    """A store + service pair, as one server process would hold them."""

    def __init__(self, url: str, node_id: str) -> None:
        self.store = RedisStore(url, node_id)
        self.service = RoomService(self.store, grace=15.0, host_grace=60.0)
        self.received: list[Delivery] = []
        self.arrived = asyncio.Event()
        self.service.set_sink(self._sink)

    def _sink(self, room_id: str, room: Room | None, events: list[Event]) -> None:
        self.received.append((room_id, room, events))
        self.arrived.set()

    async def wait_for(self, predicate: object, timeout: float = 5.0) -> None:
        assert callable(predicate)
        async with asyncio.timeout(timeout):
            while not predicate():
                self.arrived.clear()
                await self.arrived.wait()


@pytest.fixture
async def nodes(redis_url: str) -> AsyncIterator[list[Node]]:
    made = [Node(redis_url, "node-a"), Node(redis_url, "node-b")]
    for node in made:
        await node.service.start()
    yield made
    for node in made:
        await node.service.close()


def who(user: str) -> Actor:
    return Actor(user, user.upper(), f"c-{user}")


async def chatroom(node: Node, *, seats: int = 8, seat_mode: SeatMode = SeatMode.FREE) -> str:
    outcome = await node.service.execute(
        who("host"), CreateRoom("Race", seats=seats, seat_mode=seat_mode, auto_chatroom_at=0)
    )
    assert outcome.room is not None
    room_id = outcome.room.id
    await node.service.execute(who("host"), OpenChatroom(room_id))
    return room_id


async def claim_any_seat(node: Node, user: str, room_id: str, seats: int) -> int | None:
    """Try the seats from a random one on; the seat won, or None when every one was taken."""
    start = random.randrange(seats)
    for offset in range(seats):
        try:
            outcome = await node.service.execute(
                who(user), TakeSeat(room_id, (start + offset) % seats)
            )
        except RoomError as exc:
            if exc.code is ErrorCode.ALREADY_SEATED:
                raise  # seated elsewhere: no other seat will do
            assert exc.code in (ErrorCode.SEAT_TAKEN, ErrorCode.SEATS_FULL), exc
            continue
        return int(outcome.reply["seat"])
    return None


@pytest.mark.parametrize(("seats", "contenders"), [(8, 40), (8, 5), (3, 30)])
async def test_two_nodes_racing_for_seats_exactly_min_free_contenders_win(
    nodes: list[Node], seats: int, contenders: int
) -> None:
    a, b = nodes
    room_id = await chatroom(a, seats=seats)
    users = [f"u{i}" for i in range(contenders)]
    for i, user in enumerate(users):
        await nodes[i % 2].service.execute(who(user), JoinRoom(room_id))

    won = await asyncio.gather(
        *(claim_any_seat(nodes[i % 2], user, room_id, seats) for i, user in enumerate(users))
    )

    winners = {user: seat for user, seat in zip(users, won, strict=True) if seat is not None}
    assert len(winners) == min(seats, contenders)
    assert len(set(winners.values())) == len(winners), "a seat was given twice"
    room = await b.store.load(room_id)
    assert room is not None
    assert room.seated_users() == winners


async def test_a_user_seated_in_one_room_cannot_take_a_seat_in_another(nodes: list[Node]) -> None:
    a, b = nodes
    first = await chatroom(a)
    second = await chatroom(b)
    for node, room_id in ((a, first), (b, second)):
        await node.service.execute(who("solo"), JoinRoom(room_id))
    await a.service.execute(who("solo"), TakeSeat(first, 0))

    with pytest.raises(RoomError) as refused:
        await b.service.execute(who("solo"), TakeSeat(second, 0))
    assert refused.value.code is ErrorCode.ALREADY_SEATED

    # Released seats are cleared from the index: after leaving, the other room works.
    await a.service.execute(who("solo"), LeaveSeat(first))
    outcome = await b.service.execute(who("solo"), TakeSeat(second, 0))
    assert outcome.reply == {"seat": 0}


async def test_the_seat_index_follows_concurrent_cross_room_claims(nodes: list[Node]) -> None:
    a, b = nodes
    rooms = [await chatroom(a), await chatroom(b)]
    users = [f"x{i}" for i in range(6)]
    for user in users:
        for node, room_id in zip(nodes, rooms, strict=True):
            await node.service.execute(who(user), JoinRoom(room_id))

    # Every user tries both rooms at once, one per node: each may win at most one.
    results = await asyncio.gather(
        *(
            claim_any_seat(node, user, room_id, 8)
            for user in users
            for node, room_id in zip(nodes, rooms, strict=True)
        ),
        return_exceptions=True,
    )
    for result in results:
        if isinstance(result, BaseException):
            assert isinstance(result, RoomError) and result.code is ErrorCode.ALREADY_SEATED
    seated = [await a.store.load(room_id) for room_id in rooms]
    holders = [user for room in seated if room is not None for user in room.seated_users()]
    assert sorted(holders) == sorted(users), "every user holds exactly one seat"


async def test_events_cross_nodes_in_order_and_not_back_to_their_origin(
    nodes: list[Node],
) -> None:
    a, b = nodes
    room_id = await chatroom(a)
    await b.service.execute(who("talker"), JoinRoom(room_id))
    lines = [f"line {i}" for i in range(40)]
    for line in lines:
        await b.service.execute(who("talker"), Chat(room_id, line))

    def chats(node: Node) -> list[str]:
        return [
            str(e.data["text"])
            for _, _, events in node.received
            for e in events
            if e.type == "chat_message"
        ]

    await a.wait_for(lambda: len(chats(a)) == len(lines))
    assert chats(a) == lines
    assert chats(b) == [], "a node gets its own events from execute, never from the channel"
    # Every delivery carries the room as committed, never older than the one before it.
    versions = [room.version for _, room, _ in a.received if room is not None]
    assert versions == sorted(versions)


async def test_a_remote_join_carries_its_connection(nodes: list[Node]) -> None:
    a, b = nodes
    room_id = await chatroom(a)
    await b.service.execute(Actor("guest", "Guest", "node-b/7"), JoinRoom(room_id))
    await a.wait_for(lambda: any(e.type == "_joined" for _, _, es in a.received for e in es))
    joined = [e for _, _, events in a.received for e in events if e.type == "_joined"]
    assert joined[-1].data == {"user": "guest", "conn": "node-b/7"}


async def test_closing_a_room_reaches_other_nodes_without_a_room(nodes: list[Node]) -> None:
    a, b = nodes
    room_id = await chatroom(a)
    await a.service.execute(who("host"), CloseRoom(room_id))
    await b.wait_for(lambda: any(room is None for _, room, _ in b.received))
    closed = [(rid, events) for rid, room, events in b.received if room is None]
    assert closed[0][0] == room_id
    assert "room_closed" in [e.type for e in closed[0][1]]
    assert await b.store.load(room_id) is None
    assert await b.store.list_rooms(10) == ([], None)


async def test_another_node_follows_a_room_by_its_changes(nodes: list[Node]) -> None:
    a, b = nodes
    room_id = await chatroom(a)
    for i in range(40):  # a room whose changes are much smaller than itself
        await a.service.execute(who(f"listener{i:02d}"), JoinRoom(room_id))
    await b.service.execute(who("ann"), JoinRoom(room_id))  # b keeps a copy from here on
    for user in ("p", "q", "r"):
        await a.service.execute(who(user), JoinRoom(room_id))
    await a.service.execute(who("p"), TakeSeat(room_id, 2))
    await a.service.execute(who("host"), KickMember(room_id, "q", ban=True))
    await a.service.execute(who("host"), SetAdmin(room_id, "r", True))
    last = await a.store.load(room_id)
    assert last is not None
    await b.wait_for(lambda: any(room is not None and room.version == last.version
                                 for _, room, _ in b.received))
    # Each change came as a delta, applied to b's copy: b's rooms are a's, bans included.
    delivered = [room for rid, room, _ in b.received if rid == room_id and room is not None]
    versions = [room.version for room in delivered]
    # (a batch that came before b had a copy goes out with the room read then: maybe newer)
    assert versions == sorted(versions) and versions[-1] == last.version
    assert delivered[-1].to_dict() == last.to_dict() == b.store._known[room_id].to_dict()

    # A node without a copy (it forgot it) reads the room when a change comes.
    del b.store._known[room_id]
    await a.service.execute(who("p"), LeaveSeat(room_id))
    await b.wait_for(lambda: b.received[-1][1] is not None
                     and b.received[-1][1].version == last.version + 1)
    after = await a.store.load(room_id)
    assert after is not None and b.received[-1][1].to_dict() == after.to_dict()
    assert b.store._known[room_id].version == after.version


async def test_a_lost_message_makes_the_receiver_hand_out_room_state(
    nodes: list[Node], redis_url: str
) -> None:
    a, b = nodes
    room_id = await chatroom(a)
    await a.service.execute(who("p"), JoinRoom(room_id))
    await b.wait_for(lambda: any(e.type == "member_joined" for _, _, es in b.received for e in es))
    b.received.clear()
    # A message that never arrives: the room's sequence moves on without a publish.
    raw = aioredis.Redis.from_url(redis_url)
    await raw.hincrby(a.store.keys.room(room_id), "e", 1)
    await raw.aclose()
    await a.service.execute(who("p"), TakeSeat(room_id, 2))

    await b.wait_for(lambda: bool(b.received))
    rid, room, events = b.received[0]
    assert rid == room_id
    assert [e.type for e in events] == ["room_state"]
    assert room is not None and room.seated_users() == {"p": 2}


async def test_a_dropped_subscription_is_resynchronised(
    nodes: list[Node], redis_url: str
) -> None:
    a, b = nodes
    room_id = await chatroom(a)
    await b.wait_for(lambda: any(rid == room_id for rid, _, _ in b.received))
    b.received.clear()
    raw = aioredis.Redis.from_url(redis_url)
    # Redis drops every subscriber; what is committed meanwhile is never delivered.
    await raw.execute_command("CLIENT", "KILL", "TYPE", "pubsub")
    await a.service.execute(who("late"), JoinRoom(room_id))
    await raw.aclose()

    await b.wait_for(lambda: any(e.type == "room_state" for _, _, es in b.received for e in es))
    room = next(r for _, r, es in b.received if any(e.type == "room_state" for e in es))
    assert room is not None and room.is_member("late")
    # And the channel works again afterwards.
    await a.service.execute(who("late"), Chat(room_id, "back"))
    await b.wait_for(lambda: any(e.type == "chat_message" for _, _, es in b.received for e in es))


async def test_bans_admins_and_queue_survive_a_new_store_instance(redis_url: str) -> None:
    first = Node(redis_url, "node-a")
    await first.service.start()
    outcome = await first.service.execute(
        who("host"), CreateRoom("Keep", seats=8, auto_chatroom_at=0)
    )
    assert outcome.room is not None
    room_id = outcome.room.id
    for user in ("adm", "q1", "q2", "bad"):
        await first.service.execute(who(user), JoinRoom(room_id))
    await first.service.execute(who("host"), SetAdmin(room_id, "adm", True))
    await first.service.execute(who("q1"), RequestMic(room_id, "first"))
    await first.service.execute(who("q2"), RequestMic(room_id))
    await first.service.execute(who("adm"), KickMember(room_id, "bad", ban=True))
    await first.service.close()

    again = Node(redis_url, "node-a")
    await again.service.start()
    try:
        room = await again.store.load(room_id)
        assert room is not None
        assert room.admins == {"adm"}
        assert room.banned == {"bad"}
        assert [(r.user, r.note) for r in room.queue] == [("q1", "first"), ("q2", "")]
        with pytest.raises(RoomError) as refused:
            await again.service.execute(who("bad"), JoinRoom(room_id))
        assert refused.value.code is ErrorCode.BANNED
        rooms, _ = await again.store.list_rooms(10)
        assert [r["id"] for r in rooms] == [room_id]
    finally:
        await again.service.close()


async def test_grace_deadlines_are_swept_by_another_node(nodes: list[Node]) -> None:
    a, b = nodes
    room_id = await chatroom(a)
    await a.service.execute(who("sitter"), JoinRoom(room_id))
    await a.service.execute(who("sitter"), TakeSeat(room_id, 4))
    outcome = await a.service.connection_lost(who("sitter"), room_id)
    assert outcome is not None
    room = await b.store.load(room_id)
    assert room is not None
    deadline = room.next_deadline()
    assert deadline is not None
    assert await b.store.due_rooms(deadline - 1) == []
    assert await b.store.due_rooms(deadline) == [room_id]

    swept = await b.service.sweep(deadline + 0.1)
    assert [rid for rid, _ in swept] == [room_id]
    room = await a.store.load(room_id)
    assert room is not None and room.seated_users() == {}
    assert await a.store.due_rooms(deadline + 100) == []
    # Two sweepers on the same deadline: the second finds nothing left to do.
    assert await a.service.sweep(deadline + 0.1) == []


async def test_a_bad_cursor_is_a_bad_request(redis_url: str) -> None:
    store = RedisStore(redis_url, "n")
    try:
        for cursor in ("!!", "AAAA", "kgE"):
            with pytest.raises(RoomError) as refused:
                await store.list_rooms(5, cursor)
            assert refused.value.code is ErrorCode.BAD_REQUEST
    finally:
        await store.close()


async def test_a_lost_race_hands_the_reload_the_room_it_lost_to(nodes: list[Node]) -> None:
    a, b = nodes
    room_id = await chatroom(a)
    await a.service.execute(who("p"), JoinRoom(room_id))
    stale = await a.store.load(room_id)
    assert stale is not None
    await b.service.execute(who("p"), TakeSeat(room_id, 1))  # b wins the race
    outcome = apply(stale, who("p"), TakeSeat(room_id, 2), 1.0)
    with pytest.raises(Conflict):
        await a.store.commit(stale, outcome.room, outcome.events)
    # Redis moves on once more; the reload right after the conflict gets the room as it was
    # at the conflict (read atomically with the version check), and then the live one.
    await b.service.execute(who("p"), LeaveSeat(room_id))
    at_conflict = await a.store.load(room_id)
    assert at_conflict is not None and at_conflict.seated_users() == {"p": 1}
    now = await a.store.load(room_id)
    assert now is not None and now.seated_users() == {}


async def test_a_load_never_returns_a_room_older_than_redis_holds(
    nodes: list[Node], redis_url: str
) -> None:
    a, b = nodes
    room_id = await chatroom(a)
    deaf = RedisStore(redis_url, "node-deaf")  # never subscribed: no news from the channel
    try:
        first = await deaf.load(room_id)
        assert first is not None
        await b.service.execute(who("p"), JoinRoom(room_id))
        await b.service.execute(who("p"), TakeSeat(room_id, 6))
        again = await deaf.load(room_id)
        assert again is not None
        assert again.version == first.version + 2
        assert again.seated_users() == {"p": 6}
        # Handed-out rooms are copies: changing one changes nothing stored or remembered.
        again.seats[6].user = None
        third = await deaf.load(room_id)
        assert third is not None and third.seated_users() == {"p": 6}
        await a.service.execute(who("host"), CloseRoom(room_id))
        assert await deaf.load(room_id) is None
    finally:
        await deaf.close()


async def test_a_node_skips_the_batches_of_rooms_it_does_not_serve(nodes: list[Node]) -> None:
    a, b = nodes
    served: set[str] = set()
    a.store.interested = served.__contains__
    ignored = await chatroom(b)
    followed = await chatroom(b)
    served.add(followed)
    for room_id in (ignored, followed):
        await b.service.execute(who("p"), JoinRoom(room_id))
        await b.service.execute(who("p"), Chat(room_id, f"in {room_id}"))

    await a.wait_for(lambda: any(e.type == "chat_message" for _, _, es in a.received
                                 for e in es))
    assert {rid for rid, _, _ in a.received} == {followed}
    # A room this node works on counts as served for a while, members or not.
    await a.service.execute(who("q"), JoinRoom(ignored))
    await b.service.execute(who("p"), Chat(ignored, "now seen"))
    await a.wait_for(lambda: any(rid == ignored for rid, _, _ in a.received))
    # Skipped batches never leave a stale room behind: loads read what Redis holds.
    room = await a.store.load(ignored)
    assert room is not None and set(room.members) == {"host", "p", "q"}


async def test_after_redis_restarts_empty_nodes_resubscribe_and_report_rooms_gone() -> None:
    first = RedisServer()
    first.start()
    second: RedisServer | None = None
    a = Node(first.url, "node-a")
    b = Node(first.url, "node-b")
    try:
        for node in (a, b):
            await node.service.start()
        room_id = await chatroom(a)
        await b.service.execute(who("p"), JoinRoom(room_id))
        await a.wait_for(lambda: any(e.type == "member_joined" for _, _, es in a.received
                                     for e in es))

        first.stop()  # no persistence: everything is gone
        with pytest.raises(RedisConnectionError):
            await a.service.execute(who("p"), Chat(room_id, "into the void"))
        second = RedisServer()
        second.start(port=first.port)

        # Both nodes resubscribe and find the room gone: members hear it closed.
        for node in (a, b):
            await node.wait_for(lambda n=node: any(
                room is None and any(e.type == "room_closed" for e in es)
                for _, room, es in n.received), 15.0)
        # And the cluster works again.
        fresh = await chatroom(b)
        await a.service.execute(who("p"), JoinRoom(fresh))
        await b.wait_for(lambda: any(rid == fresh and e.type == "member_joined"
                                     for rid, _, es in b.received for e in es))
    finally:
        for node in (a, b):
            await node.service.close()
        first.stop()
        if second is not None:
            second.stop()
