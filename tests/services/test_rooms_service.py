"""RoomService over MemoryStore: load -> apply -> commit, races, deadlines, the sink."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections import Counter
from typing import Any

import pytest

from protocol.errors import ErrorCode as E
from protocol.errors import ProtocolError
from protocol.schema import (
    AcceptMic,
    Chat,
    CreateRoom,
    Hello,
    JoinRoom,
    LeaveRoom,
    OpenChatroom,
    RequestMic,
    SeatMode,
    TakeSeat,
)
from rooms.events import Event
from rooms.model import Room
from rooms.values import Outcome, RoomError
from services.rooms import MAX_ATTEMPTS, RoomService
from store.base import Conflict
from store.memory import MemoryStore
from tests.rooms.roomkit import actor, check_invariants

NOW = 5000.0


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


class YieldingStore(MemoryStore):
    """A MemoryStore that lets other coroutines run between load and commit, the way a
    network store does, so several services sharing it really race."""

    def __init__(self) -> None:
        super().__init__()
        self.conflicts = 0

    async def load(self, room_id: str) -> Room | None:
        room = await super().load(room_id)
        await asyncio.sleep(0)
        return room

    async def commit(self, old: Room | None, new: Room | None, events: list[Event]) -> None:
        await asyncio.sleep(0)
        try:
            await super().commit(old, new, events)
        except Conflict:
            self.conflicts += 1
            raise


def ids() -> Any:
    counter = itertools.count(1)
    return lambda: f"room{next(counter)}"


async def open_room(service: RoomService, *, seat_mode: SeatMode = SeatMode.FREE,
                    chatroom: bool = True, users: int = 0) -> str:
    outcome = await service.execute(actor("host"), CreateRoom("Race", 8, seat_mode, 0))
    assert outcome.room is not None
    room_id = outcome.room.id
    if chatroom:
        await service.execute(actor("host"), OpenChatroom(room_id))
    for i in range(users):
        await service.execute(actor(f"u{i}"), JoinRoom(room_id))
    return room_id


async def attempt(service: RoomService, user: str, cmd: object) -> str:
    try:
        outcome = await service.execute(actor(user), cmd)
    except RoomError as exc:
        return exc.code.value
    return f"won:{outcome.reply['seat']}" if "seat" in outcome.reply else "ok"


async def test_create_join_list_and_no_such_room() -> None:
    service = RoomService(MemoryStore(), new_room_id=ids())
    out = await service.execute(actor("host"), CreateRoom("One"))
    assert out.room is not None and out.room.id == "room1"
    assert out.reply["room"]["id"] == "room1"
    await service.execute(actor("host"), CreateRoom("Two"))
    await service.execute(actor("a"), JoinRoom("room1"))
    listed = await service.list_rooms()
    assert [r["id"] for r in listed["rooms"]] == ["room2", "room1"]
    assert listed["rooms"][1]["audience_count"] == 1
    assert "cursor" not in listed
    first = await service.list_rooms(limit=1)
    assert [r["id"] for r in first["rooms"]] == ["room2"]
    second = await service.list_rooms(limit=1, cursor=first["cursor"])
    assert [r["id"] for r in second["rooms"]] == ["room1"]
    with pytest.raises(RoomError) as info:
        await service.execute(actor("a"), JoinRoom("nope"))
    assert info.value.code is E.NO_SUCH_ROOM
    with pytest.raises(RoomError) as info:
        await service.execute(actor("a"), Hello())
    assert info.value.code is E.BAD_REQUEST


async def test_room_id_collision_draws_again() -> None:
    names = iter(["same", "same", "other"])
    service = RoomService(MemoryStore(), new_room_id=lambda: next(names))
    a = await service.execute(actor("h1"), CreateRoom("A"))
    b = await service.execute(actor("h2"), CreateRoom("B"))
    assert a.room is not None and b.room is not None
    assert (a.room.id, b.room.id) == ("same", "other")


async def test_closing_deletes_the_room() -> None:
    service = RoomService(MemoryStore(), new_room_id=ids())
    room_id = await open_room(service, users=1)
    out = await service.execute(actor("host"), LeaveRoom(room_id))
    assert out.room is None and out.events[0].data == {"reason": "host_left"}
    assert await service.get_room(room_id) is None
    assert (await service.list_rooms())["rooms"] == []


async def test_two_hundred_race_for_eight_seats() -> None:
    store = YieldingStore()
    # two services on one store stand for two nodes: their commits really conflict
    nodes = [RoomService(store, new_room_id=ids()), RoomService(store)]
    room_id = await open_room(nodes[0], users=200)
    results = await asyncio.gather(*(
        attempt(nodes[i % 2], f"u{i}", TakeSeat(room_id, (i * 7) % 8)) for i in range(200)
    ))
    tally = Counter(results)
    winners = {r for r in results if r.startswith("won:")}
    assert sum(tally[w] for w in winners) == 8, tally
    assert winners == {f"won:{i}" for i in range(8)}
    assert set(tally) - winners <= {"seat_taken", "seats_full"}
    assert store.conflicts > 0  # the retry path ran
    room = await nodes[1].get_room(room_id)
    assert room is not None
    check_invariants(room)
    seated = room.seated_users()
    assert len(seated) == 8
    for i, result in enumerate(results):
        if result.startswith("won:"):
            assert seated[f"u{i}"] == int(result[len("won:"):])


async def test_fifty_requests_and_a_host_accepting_all() -> None:
    store = YieldingStore()
    service = RoomService(store, new_room_id=ids())
    room_id = await open_room(service, seat_mode=SeatMode.APPLY, users=50)

    async def ask_and_get_accepted(i: int) -> str:
        assert await attempt(service, f"u{i}", RequestMic(room_id)) == "ok"
        return await attempt(service, "host", AcceptMic(room_id, f"u{i}"))

    results = await asyncio.gather(*(ask_and_get_accepted(i) for i in range(50)))
    tally = Counter(results)
    assert sum(n for r, n in tally.items() if r.startswith("won:")) == 8, tally
    assert tally["seats_full"] == 42
    room = await service.get_room(room_id)
    assert room is not None and len(room.seated_users()) == 8
    # accepted requests left the queue, refused ones stay, first come first served
    assert len(room.queue) == 42
    assert [r.at for r in room.queue] == sorted(r.at for r in room.queue)
    check_invariants(room)


async def test_one_seat_per_user_across_rooms_through_service() -> None:
    service = RoomService(MemoryStore(), new_room_id=ids())
    one = await open_room(service, users=2)
    two = await open_room(service, users=2)
    assert await attempt(service, "u0", TakeSeat(one, 0)) == "won:0"
    assert await attempt(service, "u0", TakeSeat(two, 0)) == "already_seated"
    room = await service.get_room(two)
    assert room is not None and room.seated_users() == {}


async def test_bounded_retries() -> None:
    class AlwaysConflicting(MemoryStore):
        """A store that always loses the race: stands for a room hammered by other nodes."""

        async def commit(self, old: Room | None, new: Room | None,
                         events: list[Event]) -> None:
            if old is not None:
                raise Conflict("always")
            await super().commit(old, new, events)

    service = RoomService(AlwaysConflicting(), new_room_id=ids())
    out = await service.execute(actor("host"), CreateRoom("Busy"))
    assert out.room is not None
    with pytest.raises(ProtocolError) as info:
        await service.execute(actor("a"), JoinRoom(out.room.id))
    assert info.value.code is E.INTERNAL
    assert MAX_ATTEMPTS >= 10
    assert service._locks == {}


async def test_room_locks_are_released() -> None:
    service = RoomService(MemoryStore(), new_room_id=ids())
    room_id = await open_room(service, users=3)
    await asyncio.gather(*(service.execute(actor(f"u{i}"), Chat(room_id, "hi"))
                           for i in range(3)))
    assert service._locks == {}


async def test_grace_keywords_and_defaults() -> None:
    service = RoomService(MemoryStore(), grace=3.0, host_grace=7.0)
    assert (service.grace, service.host_grace) == (3.0, 7.0)
    plain = RoomService(MemoryStore())
    assert (plain.grace, plain.host_grace) == (15.0, 60.0)


async def test_disconnect_grace_and_sweep() -> None:
    clock = Clock()
    service = RoomService(MemoryStore(), grace=10.0, host_grace=30.0, clock=clock,
                          new_room_id=ids())
    delivered: list[tuple[str, Room | None, list[Event]]] = []

    async def sink(room_id: str, room: Room | None, events: list[Event]) -> None:
        delivered.append((room_id, room, events))

    service.set_sink(sink)
    await service.start()
    room_id = await open_room(service, users=3)
    assert await attempt(service, "u0", TakeSeat(room_id, 2)) == "won:2"
    lost = await service.connection_lost(actor("u0"), room_id)
    assert lost is not None and [e.type for e in lost.events] == ["seat_changed"]
    assert await service.connection_lost(actor("stranger"), room_id) is None
    assert await service.connection_lost(actor("u0"), "no-room") is None
    await service.connection_lost(actor("u1"), room_id)

    clock.now = NOW + 9.9
    assert await service.sweep() == []
    assert delivered == []
    # u1 comes back in time
    await service.execute(actor("u1"), JoinRoom(room_id))
    clock.now = NOW + 10.0
    swept = await service.sweep()
    assert [room for room, _ in swept] == [room_id]
    assert len(delivered) == 1
    got_id, got_room, events = delivered[0]
    assert got_id == room_id and got_room is not None
    assert [e.type for e in events] == ["seat_changed", "member_left", "audience_changed",
                                        "_gone"]
    assert "u0" not in got_room.members and "u1" in got_room.members
    assert got_room.seats[2].user is None

    # the host drops: the room closes when the host grace is over
    await service.connection_lost(actor("host"), room_id)
    clock.now = NOW + 39.0
    assert await service.sweep() == []
    clock.now = NOW + 40.0
    swept = await service.sweep()
    assert swept[0][1].room is None
    assert delivered[-1][1] is None
    assert delivered[-1][2] == [Event("room_closed", {"reason": "host_left"})]
    assert await service.get_room(room_id) is None
    await service.close()


async def test_plain_function_sink_and_sweeper_task() -> None:
    clock = Clock()
    service = RoomService(MemoryStore(), grace=1.0, clock=clock, new_room_id=ids())
    got: list[str] = []
    service.set_sink(lambda room_id, room, events: got.extend(e.type for e in events))
    room_id = await open_room(service, users=1)
    await service.connection_lost(actor("u0"), room_id)
    clock.now = NOW + 2
    task = asyncio.create_task(service.run_sweeper(interval=0.01))
    try:
        for _ in range(500):
            if got:
                break
            await asyncio.sleep(0.01)
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert got == ["member_left", "audience_changed", "_gone"]


class SwallowingStore(MemoryStore):
    """`due_rooms` loses a cancellation, as redis-py's write through `asyncio.wait_for` does on
    Python 3.11 when the cancel lands as the write completes."""

    def __init__(self) -> None:
        super().__init__()
        self.sweeping = asyncio.Event()

    async def due_rooms(self, now: float) -> list[str]:
        if not self.sweeping.is_set():  # the first sweep only
            self.sweeping.set()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.sleep(10)
        return await super().due_rooms(now)


async def test_a_cancelled_sweeper_stops_even_if_the_store_swallowed_the_cancel() -> None:
    store = SwallowingStore()
    service = RoomService(store, new_room_id=ids())
    task = asyncio.create_task(service.run_sweeper(interval=0.01))
    await asyncio.wait_for(store.sweeping.wait(), 5)
    task.cancel()
    try:
        done, _ = await asyncio.wait([task], timeout=5)
        assert done == {task}
        assert task.cancelled()
    finally:
        task.cancel()  # (a sweeper that kept going would stop here: no hang in teardown)
        await asyncio.wait([task], timeout=5)


async def test_check_offer_through_service() -> None:
    service = RoomService(MemoryStore(), new_room_id=ids())
    room_id = await open_room(service, users=1)
    room = await service.check_offer(actor("u0"), room_id)
    assert room.id == room_id
    for user, rid, code in [("x", room_id, E.NOT_IN_ROOM), ("u0", "zz", E.NO_SUCH_ROOM)]:
        with pytest.raises(RoomError) as info:
            await service.check_offer(actor(user), rid)
        assert info.value.code is code


def test_outcome_type() -> None:
    assert Outcome(None, {}, []).events == []


async def test_a_failing_sink_does_not_stop_the_sweep(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    service = RoomService(MemoryStore(), grace=1.0, clock=clock, new_room_id=ids())
    rooms = [await open_room(service, users=1) for _ in range(2)]
    calls: list[str] = []

    def sink(room_id: str, room: Room | None, events: list[Event]) -> None:
        calls.append(room_id)
        if len(calls) == 1:
            raise RuntimeError("a broken subscriber")

    service.set_sink(sink)
    for room_id in rooms:
        await service.connection_lost(actor("u0"), room_id)
    clock.now = NOW + 1
    swept = await service.sweep()
    assert sorted(room_id for room_id, _ in swept) == sorted(rooms) == sorted(calls)
    assert "a broken subscriber" in caplog.text
    for room_id in rooms:
        room = await service.get_room(room_id)
        assert room is not None and "u0" not in room.members


async def test_users_racing_in_two_rooms_win_one_seat_at_most() -> None:
    store = YieldingStore()
    nodes = [RoomService(store, new_room_id=ids()), RoomService(store)]
    # room ids from one counter: the second room must not reuse the first id
    rooms = [await open_room(nodes[0], users=30), await open_room(nodes[0], users=30)]
    claims = [(user, room_id, (i + n) % 8)
              for i, user in enumerate(f"u{k}" for k in range(30))
              for n, room_id in enumerate(rooms)]
    results = await asyncio.gather(*(
        attempt(nodes[i % 2], user, TakeSeat(room_id, seat))
        for i, (user, room_id, seat) in enumerate(claims)
    ))
    assert set(results) <= {f"won:{i}" for i in range(8)} | {"seat_taken", "already_seated"}
    holders: Counter[str] = Counter()
    won = 0
    for room_id in rooms:
        room = await nodes[0].get_room(room_id)
        assert room is not None
        check_invariants(room)
        holders.update(list(room.seated_users()))
        won += len(room.seated_users())
    assert holders and max(holders.values()) == 1
    assert won == sum(1 for r in results if r.startswith("won:"))
    # a free seat is left only when everyone who tried it sits in the other room
    for room_id in rooms:
        room = await nodes[0].get_room(room_id)
        assert room is not None
        for seat in room.seats:
            if seat.user is None:
                tried = [u for u, r, s in claims if r == room_id and s == seat.index]
                assert all(holders[u] == 1 for u in tried)
