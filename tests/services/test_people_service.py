"""PeopleService's `list_follows {which: "blocked"}` (our extension, docs/protocol.md
"Follows and blocks") on MemoryPeople and on RedisPeople (a real redis-server): the users
the asker blocks, paged like the other lists, names as the other lists give them."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest

from calls.machine import Actor
from protocol.errors import ErrorCode
from protocol.schema import Which
from services.people import PeopleService
from social.errors import SocialError
from store.people import MemoryPeople
from store.presence import MemoryPresence


@contextlib.asynccontextmanager
async def _service(kind: str) -> AsyncIterator[PeopleService]:
    if kind == "memory":
        yield PeopleService(MemoryPeople(), MemoryPresence())
        return
    from store.people_redis import RedisPeople
    from store.presence import RedisPresence
    from store.redis import RedisStore
    from tests.support.redis import fresh_redis_url

    redis_store = RedisStore(fresh_redis_url(), "node-people-service")
    try:
        yield PeopleService(RedisPeople(redis_store), RedisPresence(redis_store))
    finally:
        await redis_store.close()


@pytest.fixture(params=["memory", "redis"])
async def service(request: pytest.FixtureRequest) -> AsyncIterator[PeopleService]:
    async with _service(request.param) as made:
        yield made


async def known(service: PeopleService, *users: str) -> None:
    for user in users:
        await service.signed_in(user, user.title(), verified=False, city=None)


def actor(user: str, app: str = "main") -> Actor:
    return Actor(user, user.title(), app, f"{user}-{app}")


async def whole(service: PeopleService, who: Actor, which: Which,
                limit: int = 50) -> list[dict[str, Any]]:
    """Every page of one list, checking each page's size on the way."""
    users: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        reply = await service.list_follows(who, which, limit, cursor)
        assert len(reply["users"]) <= limit
        users += reply["users"]
        cursor = reply.get("cursor")
        if cursor is None:
            return users


async def test_blocked_lists_every_block_page_by_page_with_names(
        service: PeopleService) -> None:
    fans = [f"fan{i}" for i in range(7)]
    await known(service, "ann", *fans)
    for fan in reversed(fans):
        await service.block(actor("ann"), fan)
    # An entry's name is the current display name.
    await service.signed_in("fan3", "Third Fan", verified=False, city=None)
    await service.presence.connected("fan0", "c0", "main")  # online or not, no dot

    first = await service.list_follows(actor("ann"), Which.BLOCKED, 3, None)
    assert [u["user"] for u in first["users"]] == ["fan0", "fan1", "fan2"]
    assert "cursor" in first
    listed = await whole(service, actor("ann"), Which.BLOCKED, limit=3)
    assert listed == [{"user": f, "name": "Third Fan" if f == "fan3" else f.title(),
                       "mutual": False} for f in fans]
    # Blocks are per user: every app of the blocker lists the same users.
    assert await whole(service, actor("ann", "douyin"), Which.BLOCKED) == listed
    # A forged cursor is refused as for the other lists.
    with pytest.raises(SocialError) as info:
        await service.list_follows(actor("ann"), Which.BLOCKED, 3, "forged")
    assert (info.value.code, info.value.field) == (ErrorCode.BAD_REQUEST, "cursor")


async def test_unblock_removes_the_entry_and_a_cursor_stays_valid(
        service: PeopleService) -> None:
    await known(service, "ann", "bob", "cat", "dan", "eve")
    for user in ("bob", "cat", "dan", "eve"):
        await service.block(actor("ann"), user)
    first = await service.list_follows(actor("ann"), Which.BLOCKED, 2, None)
    assert [u["user"] for u in first["users"]] == ["bob", "cat"]
    # The list changes between pages: the next page starts after the last user shown.
    await service.unblock(actor("ann"), "cat")
    await service.unblock(actor("ann"), "dan")
    rest = await service.list_follows(actor("ann"), Which.BLOCKED, 2, first["cursor"])
    assert rest == {"users": [{"user": "eve", "name": "Eve", "mutual": False}]}
    assert [u["user"] for u in await whole(service, actor("ann"), Which.BLOCKED)] == \
        ["bob", "eve"]
    await service.unblock(actor("ann"), "bob")
    await service.unblock(actor("ann"), "eve")
    assert await service.list_follows(actor("ann"), Which.BLOCKED, 50, None) == {"users": []}


async def test_the_list_is_only_ever_the_blockers_own(service: PeopleService) -> None:
    await known(service, "ann", "bob")
    await service.follow(actor("ann"), "bob")
    await service.follow(actor("bob"), "ann")
    await service.block(actor("bob"), "ann")
    # ann, the blocked one, sees no block anywhere; her lists are a stranger's.
    assert await whole(service, actor("ann"), Which.BLOCKED) == []
    for which in (Which.FOLLOWERS, Which.FRIENDS):
        assert await whole(service, actor("ann"), which) == []
    # The block took every follow; bob's other lists do not show ann either.
    assert await whole(service, actor("bob"), Which.BLOCKED) == [
        {"user": "ann", "name": "Ann", "mutual": False}]
    for which in (Which.FOLLOWING, Which.FOLLOWERS, Which.FRIENDS):
        assert await whole(service, actor("bob"), which) == []
    # A hidden follow by ann changes neither list of bob's.
    await service.follow(actor("ann"), "bob")
    assert [u["user"] for u in await whole(service, actor("bob"), Which.BLOCKED)] == ["ann"]
    assert await whole(service, actor("bob"), Which.FOLLOWERS) == []


async def test_follow_pages_keep_their_cursor_across_changes(service: PeopleService) -> None:
    """Followers two at a time while fans come and go, and hidden follows of users the star
    blocks never shown: every user present throughout is listed once, in id order."""
    fans = [f"fan{i}" for i in range(8)]
    await known(service, "star", *fans, "fan00", "fan9")
    for fan in fans:
        await service.follow(actor(fan), "star")
    await service.follow(actor("star"), "fan2")
    await service.block(actor("star"), "fan4")
    await service.follow(actor("fan4"), "star")  # hidden from the star
    first = await service.list_follows(actor("star"), Which.FOLLOWERS, 2, None)
    assert first["users"] == [{"user": "fan0", "name": "Fan0", "mutual": False},
                              {"user": "fan1", "name": "Fan1", "mutual": False}]
    await service.follow(actor("fan00"), "star")  # before the cursor: not shown
    await service.unfollow(actor("fan3"), "star")
    await service.follow(actor("fan9"), "star")
    second = await service.list_follows(actor("star"), Which.FOLLOWERS, 2, first["cursor"])
    assert second["users"] == [
        {"user": "fan2", "name": "Fan2", "mutual": True, "online": False},
        {"user": "fan5", "name": "Fan5", "mutual": False}]
    rest = await whole(service, actor("star"), Which.FOLLOWERS)
    assert [u["user"] for u in rest] == ["fan0", "fan00", "fan1", "fan2", "fan5", "fan6",
                                         "fan7", "fan9"]
    assert [u["user"] for u in await whole(service, actor("fan4"), Which.FOLLOWING)] == [
        "star"]
