"""The RoomStore contract: every store (the `any_store` fixture) must pass these.

Rooms are made by the real state machine; the store is driven the way RoomService drives it.
"""

from __future__ import annotations

import pytest

from protocol.errors import ErrorCode
from protocol.schema import Chat, JoinRoom, LeaveSeat, SeatMode, TakeSeat
from rooms.machine import Disconnect, Event, RoomError, apply
from rooms.model import Room
from store.base import Conflict, RoomStore
from tests.rooms.roomkit import NOW, actor, new_room, step


def free_room(room_id: str, created: float = NOW, users: tuple[str, ...] = ("a", "b")) -> Room:
    room = new_room(room_id=room_id, seat_mode=SeatMode.FREE, now=created,
                    host=host_of(room_id))
    for user in users:
        room = step(room, user, JoinRoom(room_id))
    return room


def host_of(room_id: str) -> str:
    return f"host-{room_id}"


async def create(store: RoomStore, room: Room) -> Room:
    await store.commit(None, room, [])
    return room


async def change(store: RoomStore, room: Room, user: str, cmd: object,
                 now: float = NOW) -> Room:
    outcome = apply(room, actor(user), cmd, now)
    assert outcome.room is not None
    await store.commit(room, outcome.room, outcome.events)
    return outcome.room


def test_store_satisfies_protocol(any_store: RoomStore) -> None:
    assert isinstance(any_store, RoomStore)


async def test_create_and_load(any_store: RoomStore) -> None:
    assert await any_store.load("r1") is None
    room = await create(any_store, free_room("r1"))
    loaded = await any_store.load("r1")
    assert loaded == room
    assert loaded is not room
    # what load hands out is the caller's own: changing it changes nothing stored
    assert loaded is not None
    loaded.members.clear()
    loaded.seats[0].user = "zz"
    assert await any_store.load("r1") == room


async def test_create_existing_id_conflicts(any_store: RoomStore) -> None:
    room = await create(any_store, free_room("r1"))
    with pytest.raises(Conflict):
        await any_store.commit(None, free_room("r1", users=("c",)), [])
    assert await any_store.load("r1") == room


async def test_commit_checks_version(any_store: RoomStore) -> None:
    room = await create(any_store, free_room("r1"))
    first = await change(any_store, room, "a", TakeSeat("r1", 0))
    assert await any_store.load("r1") == first
    # a change made from the old version (another node raced us) is refused
    stale = apply(room, actor("b"), TakeSeat("r1", 0), NOW).room
    with pytest.raises(Conflict):
        await any_store.commit(room, stale, [])
    assert await any_store.load("r1") == first
    # committing onto a deleted room conflicts too
    await any_store.commit(first, None, [Event("room_closed", {"reason": "closed"})])
    with pytest.raises(Conflict):
        await any_store.commit(first, first, [])


async def test_events_only_commit(any_store: RoomStore) -> None:
    room = await create(any_store, free_room("r1"))
    outcome = apply(room, actor("a"), Chat("r1", "hi"), NOW)
    assert outcome.room is not None and outcome.room.version == room.version
    await any_store.commit(room, outcome.room, outcome.events)
    assert await any_store.load("r1") == room
    # still version-checked
    newer = await change(any_store, room, "a", TakeSeat("r1", 0))
    with pytest.raises(Conflict):
        await any_store.commit(room, outcome.room, outcome.events)
    assert await any_store.load("r1") == newer


async def test_delete(any_store: RoomStore) -> None:
    room = await create(any_store, free_room("r1"))
    room = await change(any_store, room, "a", TakeSeat("r1", 0))
    room = await change(any_store, room, "b", Disconnect("r1", 5, 5))
    await any_store.commit(room, None, [Event("room_closed", {"reason": "closed"})])
    assert await any_store.load("r1") is None
    assert await any_store.list_rooms(10) == ([], None)
    assert await any_store.due_rooms(NOW + 1000) == []
    # the seat index forgot the closed room's seats
    other = await create(any_store, free_room("r2"))
    await change(any_store, other, "a", TakeSeat("r2", 0))


async def test_one_seat_per_user_across_rooms(any_store: RoomStore) -> None:
    one = await create(any_store, free_room("r1"))
    two = await create(any_store, free_room("r2", created=NOW + 1))
    one = await change(any_store, one, "a", TakeSeat("r1", 0))
    # the machine alone cannot see room r1: the store refuses the commit
    seated_in_two = apply(two, actor("a"), TakeSeat("r2", 0), NOW).room
    with pytest.raises(RoomError) as info:
        await any_store.commit(two, seated_in_two, [])
    assert info.value.code is ErrorCode.ALREADY_SEATED
    assert await any_store.load("r2") == two
    # other changes to either room go on; re-committing r1 with a still seated is fine
    one = await change(any_store, one, "b", Chat("r1", "x"))
    one = await change(any_store, one, "b", Disconnect("r1", 5, 5))
    two = await change(any_store, two, "b", TakeSeat("r2", 0))
    two = await change(any_store, two, "b", LeaveSeat("r2"))
    # once a's seat in r1 is free, r2 may seat them
    one = await change(any_store, one, "a", LeaveSeat("r1"))
    two = await change(any_store, two, "a", TakeSeat("r2", 0))
    assert (await any_store.load("r2")).seated_users() == {"a": 0}  # type: ignore[union-attr]
    seated_in_one = apply(one, actor("a"), TakeSeat("r1", 0), NOW).room
    with pytest.raises(RoomError):
        await any_store.commit(one, seated_in_one, [])


async def test_one_seat_per_user_on_create(any_store: RoomStore) -> None:
    one = await create(any_store, free_room("r1"))
    await change(any_store, one, "a", TakeSeat("r1", 0))
    # a room can only be created empty by the machine, but the store checks any commit
    forged = free_room("r2")
    forged.seats[0].user, forged.seats[0].name = "a", "A"
    with pytest.raises(RoomError):
        await any_store.commit(None, forged, [])
    assert await any_store.load("r2") is None


async def test_list_newest_first_with_cursor(any_store: RoomStore) -> None:
    rooms = [await create(any_store, free_room(f"r{i}", created=NOW + i)) for i in range(7)]
    rooms[3] = await change(any_store, rooms[3], "a", TakeSeat("r3", 0))
    await any_store.commit(rooms[5], None, [])
    expected = [rooms[i].summary() for i in (6, 4, 3, 2, 1, 0)]
    assert expected[2]["seated"] == 1

    page, cursor = await any_store.list_rooms(10)
    assert page == expected and cursor is None

    seen: list[dict[str, object]] = []
    cursor = None
    pages = 0
    while True:
        page, cursor = await any_store.list_rooms(4, cursor)
        assert 1 <= len(page) <= 4
        seen.extend(page)
        pages += 1
        if cursor is None:
            break
        assert isinstance(cursor, str)
    assert seen == expected and pages == 2

    page, cursor = await any_store.list_rooms(6)
    assert page == expected
    # a cursor may or may not be given when the page ends exactly; if given it leads nowhere
    if cursor is not None:
        assert await any_store.list_rooms(6, cursor) == ([], None)


async def test_list_cursor_survives_deletes_and_new_rooms(any_store: RoomStore) -> None:
    rooms = [await create(any_store, free_room(f"r{i}", created=NOW + i)) for i in range(5)]
    page, cursor = await any_store.list_rooms(2)
    assert [r["id"] for r in page] == ["r4", "r3"] and cursor is not None
    await create(any_store, free_room("r9", created=NOW + 9))  # newer: not on later pages
    await any_store.commit(rooms[2], None, [])
    page, cursor = await any_store.list_rooms(2, cursor)
    assert [r["id"] for r in page] == ["r1", "r0"]


async def test_list_bad_cursor(any_store: RoomStore) -> None:
    await create(any_store, free_room("r1"))
    with pytest.raises(RoomError) as info:
        await any_store.list_rooms(5, "not a cursor!")
    assert info.value.code is ErrorCode.BAD_REQUEST


async def test_due_rooms(any_store: RoomStore) -> None:
    one = await create(any_store, free_room("r1"))
    two = await create(any_store, free_room("r2", created=NOW + 1))
    assert await any_store.due_rooms(NOW + 10_000) == []
    one = await change(any_store, one, "a", Disconnect("r1", 15, 60), now=NOW)
    two = await change(any_store, two, host_of("r2"), Disconnect("r2", 15, 60), now=NOW)
    assert await any_store.due_rooms(NOW + 14) == []
    assert await any_store.due_rooms(NOW + 15) == ["r1"]
    assert sorted(await any_store.due_rooms(NOW + 60)) == ["r1", "r2"]
    # back in time: no deadline any more
    one = await change(any_store, one, "a", JoinRoom("r1"), now=NOW + 5)
    assert await any_store.due_rooms(NOW + 60) == ["r2"]
