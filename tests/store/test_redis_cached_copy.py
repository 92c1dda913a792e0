"""RedisStore.load_cached: commands run on the node's own copy of a room, checked at commit.

A node that is deaf to the channel (never subscribed) keeps a stale copy; everything it does
with it must still come out as if it had read Redis first.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from protocol.errors import ErrorCode
from protocol.schema import CreateRoom, JoinRoom, LeaveSeat, OpenChatroom, SeatMode, TakeSeat
from rooms.machine import Actor, RoomError
from services.rooms import RoomService
from store.redis import RedisStore
from tests.support.redis import fresh_redis_url


def who(user: str) -> Actor:
    return Actor(user, user.upper(), f"c-{user}")


@pytest.fixture
async def pair() -> AsyncIterator[tuple[RoomService, RoomService, str]]:
    url = fresh_redis_url()
    live = RoomService(RedisStore(url, "node-live"))
    deaf = RoomService(RedisStore(url, "node-deaf"))  # never started: hears nothing
    await live.start()
    created = await live.execute(
        who("host"), CreateRoom("Cached", seats=8, seat_mode=SeatMode.FREE, auto_chatroom_at=0))
    assert created.room is not None
    room_id = created.room.id
    await live.execute(who("host"), OpenChatroom(room_id))
    yield live, deaf, room_id
    await live.close()
    await deaf.close()


async def test_a_stale_copy_is_caught_at_commit_and_the_command_applies_to_the_stored_room(
        pair: tuple[RoomService, RoomService, str]) -> None:
    live, deaf, room_id = pair
    await deaf.execute(who("p"), JoinRoom(room_id))  # the deaf node now holds a copy
    cached, checked = await deaf.store.load_cached(room_id)  # type: ignore[attr-defined]
    assert cached is not None and not checked
    await live.execute(who("q"), JoinRoom(room_id))
    await live.execute(who("q"), TakeSeat(room_id, 0))  # behind the deaf node's back
    outcome = await deaf.execute(who("p"), TakeSeat(room_id, 1))
    assert outcome.room is not None
    assert outcome.room.seated_users() == {"q": 0, "p": 1}
    stored = await live.get_room(room_id)
    assert stored is not None and stored.seated_users() == {"q": 0, "p": 1}
    assert stored.version == outcome.room.version


async def test_a_refusal_is_never_given_on_a_stale_copy(
        pair: tuple[RoomService, RoomService, str]) -> None:
    live, deaf, room_id = pair
    await deaf.execute(who("p"), JoinRoom(room_id))
    await live.execute(who("q"), JoinRoom(room_id))
    await live.execute(who("q"), TakeSeat(room_id, 2))
    # In the deaf node's copy q is no member and seat 2 is free: q's leave_seat would be
    # refused (not_in_room) on it, but q is seated in Redis.
    outcome = await deaf.execute(who("q"), LeaveSeat(room_id))
    assert outcome.room is not None and outcome.room.seated_users() == {}
    # And a refusal that holds on the stored room still comes out.
    await live.execute(who("q"), TakeSeat(room_id, 2))
    with pytest.raises(RoomError) as refused:
        await deaf.execute(who("p"), TakeSeat(room_id, 2))
    assert refused.value.code is ErrorCode.SEAT_TAKEN


async def test_the_cached_copy_is_not_the_callers_to_change(
        pair: tuple[RoomService, RoomService, str]) -> None:
    live, _, room_id = pair
    before = await live.get_room(room_id)
    cached, _checked = await live.store.load_cached(room_id)  # type: ignore[attr-defined]
    assert cached is not None and before is not None
    outcome = await live.execute(who("p"), JoinRoom(room_id))
    # The command worked on its own copy: the room the store had cached is as it was.
    assert cached == before and outcome.room is not None and outcome.room != before
