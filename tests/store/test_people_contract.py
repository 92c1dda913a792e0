"""The people store and presence contract (store/people.py, store/presence.py): MemoryPeople
and RedisPeople (on a real redis-server), MemoryPresence and RedisPresence, through the same
tests. Relations change by `social/`'s own rules, as the service drives them."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest

from social.graph import Relations
from store.people import MemoryPeople, PeopleStore
from store.presence import MemoryPresence, Presence


@contextlib.asynccontextmanager
async def _stores(kind: str) -> AsyncIterator[tuple[PeopleStore, Presence, Any]]:
    if kind == "memory":
        yield MemoryPeople(), MemoryPresence(), None
        return
    from store.people_redis import RedisPeople
    from store.presence import RedisPresence
    from store.redis import RedisStore
    from tests.support.redis import fresh_redis_url

    redis_store = RedisStore(fresh_redis_url(), "node-people")
    try:
        yield RedisPeople(redis_store), RedisPresence(redis_store), redis_store
    finally:
        await redis_store.close()


@pytest.fixture(params=["memory", "redis"])
async def stores(request: pytest.FixtureRequest) -> AsyncIterator[tuple[PeopleStore, Presence,
                                                                        Any]]:
    async with _stores(request.param) as value:
        yield value


@pytest.fixture
def people(stores: tuple[PeopleStore, Presence, Any]) -> PeopleStore:
    return stores[0]


@pytest.fixture
def presence(stores: tuple[PeopleStore, Presence, Any]) -> Presence:
    return stores[1]


def test_satisfies_the_protocols(people: PeopleStore, presence: Presence) -> None:
    assert isinstance(people, PeopleStore)
    assert isinstance(presence, Presence)


# -- profiles ----------------------------------------------------------------------------------


async def test_a_profile_is_kept_field_by_field(people: PeopleStore) -> None:
    assert await people.profile("ann") is None
    made = await people.update_profile("ann", {"name": "Ann", "verified": True})
    assert (made.user, made.name, made.verified, made.city, made.tags, made.bio) == \
        ("ann", "Ann", True, None, (), "")
    await people.update_profile("ann", {"tags": ("jazz", "go"), "bio": "hi\nthere"})
    await people.update_profile("ann", {"city": "Chengdu"})
    after = await people.update_profile("ann", {"name": "Annie"})
    assert (after.name, after.city, after.tags, after.bio, after.verified) == \
        ("Annie", "Chengdu", ("jazz", "go"), "hi\nthere", True)
    assert await people.profile("ann") == after
    cleared = await people.update_profile("ann", {"city": None, "tags": ()})
    assert (cleared.city, cleared.tags) == (None, ())


async def test_an_unknown_user_needs_a_name_and_unknown_fields_are_refused(
        people: PeopleStore) -> None:
    with pytest.raises(ValueError):
        await people.update_profile("ghost", {"city": "X"})
    assert await people.profile("ghost") is None
    with pytest.raises(ValueError):
        await people.update_profile("ghost", {"name": "G", "password": "x"})


async def test_concurrent_writes_of_different_fields_all_stay(people: PeopleStore) -> None:
    await people.update_profile("ann", {"name": "Ann"})
    await asyncio.gather(
        people.update_profile("ann", {"name": "Ann2", "verified": True}),
        people.update_profile("ann", {"tags": ("a",)}),
        people.update_profile("ann", {"bio": "b"}),
        people.update_profile("ann", {"city": "C"}),
    )
    profile = await people.profile("ann")
    assert profile is not None
    assert (profile.name, profile.verified, profile.tags, profile.bio, profile.city) == \
        ("Ann2", True, ("a",), "b", "C")


async def test_profiles_leaves_out_unknown_users(people: PeopleStore) -> None:
    for user in ("a", "b"):
        await people.update_profile(user, {"name": user.upper()})
    found = await people.profiles(["a", "zz", "b"])
    assert {u: p.name for u, p in found.items()} == {"a": "A", "b": "B"}
    assert await people.profiles([]) == {}


# -- relations ---------------------------------------------------------------------------------


def follow(follower: str, app: str) -> Any:
    def change(r: Relations) -> tuple[Relations, bool]:
        outcome = r.follow(follower, app)
        return outcome.relations, outcome.mutual
    return change


async def test_follows_and_their_indexes(people: PeopleStore) -> None:
    _, mutual = await people.change_relations("ann", "bob", follow("ann", "douyin"))
    assert mutual is False
    _, mutual = await people.change_relations("bob", "ann", follow("bob", "douyin"))
    assert mutual is True
    await people.change_relations("ann", "cat", follow("ann", "duoshan"))
    relations = await people.relations("bob", "ann")
    assert relations.mutual("douyin") and not relations.mutual("duoshan")
    assert await people.follows("ann", "douyin") == ({"bob"}, {"bob"})
    assert await people.follows("ann", "duoshan") == ({"cat"}, set())
    assert await people.follows("cat", "duoshan") == (set(), {"ann"})
    await people.change_relations("ann", "bob", lambda r: (r.unfollow("ann", "douyin"), None))
    assert await people.follows("ann", "douyin") == (set(), {"bob"})
    assert await people.follows("bob", "douyin") == ({"ann"}, set())


async def test_a_block_clears_every_app_and_is_indexed(people: PeopleStore) -> None:
    for app in ("douyin", "duoshan"):
        await people.change_relations("ann", "bob", follow("ann", app))
        await people.change_relations("ann", "bob", follow("bob", app))
    await people.change_relations("bob", "ann", lambda r: (r.block("bob"), None))
    for app in ("douyin", "duoshan"):
        assert await people.follows("ann", app) == (set(), set())
        assert await people.follows("bob", app) == (set(), set())
    assert await people.blocking("bob") == {"ann"}
    assert await people.blocking("ann") == set()
    assert (await people.relations("ann", "bob")).blocks_("bob")
    await people.change_relations("ann", "bob", lambda r: (r.unblock("bob"), None))
    assert await people.blocking("bob") == set()


async def test_a_refused_change_stores_nothing(people: PeopleStore) -> None:
    await people.change_relations("ann", "bob", lambda r: (r.block("ann"), None))
    with pytest.raises(Exception) as caught:
        await people.change_relations("ann", "bob", follow("ann", "main"))
    assert getattr(caught.value, "code", None) == "forbidden"
    assert await people.follows("ann", "main") == (set(), set())


async def test_concurrent_changes_of_one_pair_lose_nothing(people: PeopleStore) -> None:
    """Both users follow each other in 30 apps at once: every follow lands, none is lost to
    a concurrent write of the same pair (Redis: the version check and retry)."""
    apps = [f"app{i}" for i in range(30)]
    await asyncio.gather(*(
        people.change_relations("ann", "bob", follow(user, app))
        for app in apps for user in ("ann", "bob")))
    relations = await people.relations("ann", "bob")
    assert all(relations.mutual(app) for app in apps)
    for app in apps:
        assert await people.follows("ann", app) == ({"bob"}, {"bob"})


async def test_the_rule_sees_the_pair_as_stored(people: PeopleStore) -> None:
    """A follow racing a block: whatever the order, no follow survives the block."""
    await asyncio.gather(
        *(people.change_relations("ann", "bob", follow("ann", f"a{i}")) for i in range(10)),
        people.change_relations("bob", "ann", lambda r: (r.block("bob"), None)),
    )
    relations = await people.relations("ann", "bob")
    assert relations.blocks_("bob")
    # Follows made after the block are ann's hidden ones; the indexes match the pair exactly.
    for i in range(10):
        following, _ = await people.follows("ann", f"a{i}")
        _, followers = await people.follows("bob", f"a{i}")
        stored = relations.follows_("ann", f"a{i}")
        assert following == ({"bob"} if stored else set())
        assert followers == ({"ann"} if stored else set())


# -- presence ----------------------------------------------------------------------------------


async def test_presence_by_app(presence: Presence) -> None:
    assert await presence.apps("ann") == frozenset()
    await presence.connected("ann", "n1/c1", "douyin")
    await presence.connected("ann", "n2/c2", "duoshan")
    await presence.connected("bob", "n1/c3", "douyin")
    assert await presence.apps("ann") == {"douyin", "duoshan"}
    assert await presence.apps_of(["ann", "bob", "cat"]) == {
        "ann": {"douyin", "duoshan"}, "bob": {"douyin"}, "cat": frozenset()}
    assert await presence.nodes_of(["ann", "bob", "cat"]) == {"ann": 2, "bob": 1, "cat": 0}
    await presence.connected("ann", "n2/c4", "douyin")  # a second one on n2 is no new node
    assert await presence.nodes_of(["ann"]) == {"ann": 2}
    assert await presence.disconnected("ann", "n2/c4") is True
    assert await presence.nodes_of([]) == {}
    assert await presence.disconnected("ann", "n1/c1") is True
    assert await presence.apps("ann") == {"duoshan"}
    assert await presence.disconnected("ann", "n2/c2") is False
    assert await presence.disconnected("ann", "n2/c2") is False
    assert await presence.apps("ann") == frozenset()
    assert await presence.apps_of([]) == {}


async def test_a_dead_nodes_connections_are_taken_away() -> None:
    from store.presence import RedisPresence
    from store.redis import RedisStore
    from tests.support.redis import fresh_redis_url

    url = fresh_redis_url()
    one, two = RedisStore(url, "one"), RedisStore(url, "two")
    try:
        p1, p2 = RedisPresence(one), RedisPresence(two)
        await p1.connected("ann", "one/1", "main")
        await p1.connected("bob", "one/2", "main")
        await p2.connected("ann", "two/1", "other")
        assert await p2.take_node("one") == ["ann", "bob"]
        assert await p2.apps_of(["ann", "bob"]) == {"ann": {"other"}, "bob": frozenset()}
        # The node was alive after all: it writes its own entries back.
        assert await p1.restore() == ["ann", "bob"]
        assert await p2.apps_of(["ann", "bob"]) == {"ann": {"main", "other"}, "bob": {"main"}}
    finally:
        await one.close()
        await two.close()


async def test_two_nodes_changing_one_pair_lose_nothing() -> None:
    """Two nodes' stores (one Redis) follow in 20 apps each at once, both directions: the
    version check makes the loser of each race read again; every follow lands."""
    from store.people_redis import RedisPeople
    from store.redis import RedisStore
    from tests.support.redis import fresh_redis_url

    url = fresh_redis_url()
    one, two = RedisStore(url, "one"), RedisStore(url, "two")
    try:
        p1, p2 = RedisPeople(one), RedisPeople(two)
        apps = [f"app{i}" for i in range(20)]
        await asyncio.gather(*(
            store.change_relations("ann", "bob", follow(user, app))
            for app in apps for store, user in ((p1, "ann"), (p2, "bob"))))
        relations = await p1.relations("ann", "bob")
        assert all(relations.mutual(app) for app in apps)
        for app in apps:
            assert await p2.follows("bob", app) == ({"ann"}, {"ann"})
    finally:
        await one.close()
        await two.close()
