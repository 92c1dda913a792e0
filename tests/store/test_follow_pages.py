"""`follow_page` (store/people.py) on MemoryPeople and RedisPeople (a real redis-server): the
same pages as the whole-list rule (`social.graph.follow_view`) gave, walked with the cursor
while the lists change, hidden follows left out, and a cost bounded by the page, not by the
list: the ids a page reads are counted (in memory, the candidates the walk reads; on Redis,
the ids the scripts' replies carry, with every other Redis read forbidden)."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from protocol.schema import Which
from social.graph import follow_view
from store.people import MemoryPeople, PeopleStore
from tests.store.test_people_contract import _stores, follow

LISTS = (Which.FOLLOWING, Which.FOLLOWERS, Which.FRIENDS, Which.BLOCKED)


@pytest.fixture(params=["memory", "redis"])
async def people(request: pytest.FixtureRequest) -> AsyncIterator[PeopleStore]:
    async with _stores(request.param) as (made, _, _):
        yield made


async def pages(people: PeopleStore, user: str, app: str, which: Which,
                limit: int) -> list[tuple[str, bool]]:
    """Every page of one list, each within its limit, the last one saying so."""
    out: list[tuple[str, bool]] = []
    after: str | None = None
    while True:
        chunk, more = await people.follow_page(user, app, which, after, limit)
        assert len(chunk) <= limit
        assert not more or len(chunk) == limit
        out += chunk
        if not more:
            return out
        after = chunk[-1][0]


async def reference(people: PeopleStore, user: str, app: str,
                    which: Which) -> list[tuple[str, bool]]:
    """The list as it was computed before pages: whole sets through `follow_view`."""
    following, followers = await people.follows(user, app)
    return follow_view(which, following=following, followers=followers,
                       blocking=await people.blocking(user))


def unfollow(follower: str, app: str) -> Any:
    return lambda r: (r.unfollow(follower, app), None)


def block(blocker: str) -> Any:
    return lambda r: (r.block(blocker), None)


def unblock(blocker: str) -> Any:
    return lambda r: (r.unblock(blocker), None)


async def test_pages_are_the_whole_list_rule_on_a_random_graph(people: PeopleStore) -> None:
    rng = random.Random(7)
    users = [f"u{i:02d}" for i in range(14)]
    for _ in range(160):
        x, y = rng.sample(users, 2)
        roll = rng.random()
        change = (follow(x, rng.choice(("main", "other"))) if roll < 0.7
                  else unfollow(x, "main") if roll < 0.8
                  else block(x) if roll < 0.92 else unblock(x))
        try:
            await people.change_relations(x, y, change)
        except Exception as refused:  # the rules' forbidden follow of a blocked user
            assert getattr(refused, "code", None) == "forbidden"
    for blocker, blocked in zip(users[:4], users[6:10], strict=True):  # hidden follows too
        await people.change_relations(blocker, blocked, block(blocker))
        await people.change_relations(blocked, blocker, follow(blocked, "main"))
    hidden = 0
    for user in users:
        for which in LISTS:
            whole = await reference(people, user, "main", which)
            for limit in (1, 2, 3, 50):
                assert await pages(people, user, "main", which, limit) == whole, (user, which)
        _, followers = await people.follows(user, "main")
        hidden += len(followers & await people.blocking(user))
    assert hidden  # the graph holds hidden follows, so the test saw them dropped


async def test_a_walk_survives_changes_between_pages(people: PeopleStore) -> None:
    fans = [f"fan{i}" for i in range(10)]
    for fan in fans:
        await people.change_relations(fan, "star", follow(fan, "main"))
    first, more = await people.follow_page("star", "main", Which.FOLLOWERS, None, 4)
    assert [u for u, _ in first] == fans[:4] and more
    # Before the cursor: not shown now; after it: shown; removed after it: gone; the cursor's
    # own user leaving changes nothing.
    await people.change_relations("fan00", "star", follow("fan00", "main"))
    await people.change_relations("fan55", "star", follow("fan55", "main"))
    await people.change_relations("fan5", "star", unfollow("fan5", "main"))
    await people.change_relations("fan3", "star", unfollow("fan3", "main"))
    second, more = await people.follow_page("star", "main", Which.FOLLOWERS, "fan3", 4)
    assert [u for u, _ in second] == ["fan4", "fan55", "fan6", "fan7"] and more
    # A block after the cursor hides that follower's follow from here on.
    await people.change_relations("star", "fan8", block("star"))
    third, more = await people.follow_page("star", "main", Which.FOLLOWERS, "fan7", 4)
    assert [u for u, _ in third] == ["fan9"] and not more


async def test_hidden_follows_show_to_their_follower_only(people: PeopleStore) -> None:
    await people.change_relations("ann", "bob", block("ann"))
    await people.change_relations("bob", "ann", follow("bob", "main"))  # hidden
    await people.change_relations("cat", "ann", follow("cat", "main"))
    await people.change_relations("ann", "cat", follow("ann", "main"))
    assert await pages(people, "ann", "main", Which.FOLLOWERS, 1) == [("cat", True)]
    assert await pages(people, "ann", "main", Which.FRIENDS, 1) == [("cat", True)]
    assert await pages(people, "ann", "main", Which.BLOCKED, 1) == [("bob", False)]
    assert await pages(people, "bob", "main", Which.FOLLOWING, 1) == [("ann", False)]
    assert await pages(people, "bob", "main", Which.FRIENDS, 1) == []
    # Unblocked, the hidden follow is an ordinary one.
    await people.change_relations("ann", "bob", unblock("ann"))
    assert await pages(people, "ann", "main", Which.FOLLOWERS, 1) == [
        ("bob", False), ("cat", True)]


# -- what a page costs -------------------------------------------------------------------------


class Reads:
    """Counts the ids a store reads for pages; on Redis any read but the page script fails."""

    def __init__(self, people: PeopleStore, monkeypatch: pytest.MonkeyPatch) -> None:
        self.ids = 0
        if isinstance(people, MemoryPeople):
            candidates = people._candidates

            def counted(*args: Any) -> Any:
                found, done = candidates(*args)
                self.ids += len(found)
                return found, done
            monkeypatch.setattr(people, "_candidates", counted)
            return
        store: Any = people.store  # type: ignore[attr-defined]  # RedisPeople's
        script = store.script

        async def counted_script(which: Any, keys: list[str], args: list[Any]) -> Any:
            reply = await script(which, keys, args)
            self.ids += (len(reply) - 2) // 3
            return reply
        monkeypatch.setattr(store, "script", counted_script)
        monkeypatch.setattr(people, "redis", None)  # no SMEMBERS, ZRANGE or the like

    def take(self) -> int:
        ids, self.ids = self.ids, 0
        return ids


async def _many_follow(people: PeopleStore, pairs: list[tuple[str, str]]) -> None:
    for start in range(0, len(pairs), 2000):
        await asyncio.gather(*(people.change_relations(f, to, follow(f, "main"))
                               for f, to in pairs[start:start + 2000]))


def _fans(n: int) -> Iterator[str]:
    return (f"fan{i:05d}" for i in range(n))


async def test_a_page_reads_about_the_page_however_long_the_list(
        people: PeopleStore, monkeypatch: pytest.MonkeyPatch) -> None:
    fans = list(_fans(20_000))
    backs = fans[::1000]  # the star follows 20 of them back
    await _many_follow(people, [(fan, "star") for fan in fans]
                       + [("star", fan) for fan in backs] + [("star", "zed")])
    reads = Reads(people, monkeypatch)
    first, more = await people.follow_page("star", "main", Which.FOLLOWERS, None, 10)
    assert [u for u, _ in first] == fans[:10] and more
    assert reads.take() <= 11
    middle, _ = await people.follow_page("star", "main", Which.FOLLOWERS, fans[9999], 10)
    assert [u for u, _ in middle] == fans[10000:10010]
    assert [m for _, m in middle] == [True] + [False] * 9  # fan10000 is followed back
    assert reads.take() <= 11
    following, more = await people.follow_page("star", "main", Which.FOLLOWING, None, 10)
    assert [u for u, _ in following] == backs[:10] and more
    assert reads.take() <= 11
    # Friends walk the smaller side: the 21 the star follows, not the 20,000 followers.
    friends, more = await people.follow_page("star", "main", Which.FRIENDS, None, 50)
    assert friends == [(fan, True) for fan in backs] and not more
    assert reads.take() <= 21
    # A fan's friends page: one follow, one follower.
    assert await people.follow_page("fan01000", "main", Which.FRIENDS, None, 10) == (
        [("star", True)], False)
    assert reads.take() <= 1


async def test_friends_walk_the_smaller_side_either_way(
        people: PeopleStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """A user following 3,000 with 4 followers (3 followed back) reads the followers."""
    fans = list(_fans(3000))
    await _many_follow(people, [("keen", fan) for fan in fans]
                       + [(fan, "keen") for fan in fans[:3]] + [("zoe", "keen")])
    reads = Reads(people, monkeypatch)
    assert await people.follow_page("keen", "main", Which.FRIENDS, None, 2) == (
        [(fans[0], True), (fans[1], True)], True)
    assert await people.follow_page("keen", "main", Which.FRIENDS, fans[1], 2) == (
        [(fans[2], True)], False)
    assert reads.take() <= 3 + 2


async def test_followers_skip_blocked_ones_in_growing_chunks(
        people: PeopleStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """300 hidden follows (users the star blocks) before the visible ones: one page still
    finds the visible ones, reading in a few chunks rather than one id at a time."""
    fans = list(_fans(400))
    await _many_follow(people, [(fan, "star") for fan in fans])
    for fan in fans[:300]:
        await people.change_relations("star", fan, block("star"))
        await people.change_relations(fan, "star", follow(fan, "main"))  # hidden now
    chunks: list[int] = []
    reads = Reads(people, monkeypatch)
    if not isinstance(people, MemoryPeople):
        store: Any = people.store  # type: ignore[attr-defined]  # RedisPeople's
        script = store.script

        async def noted(which: Any, keys: list[str], args: list[Any]) -> Any:
            chunks.append(int(args[2]))
            return await script(which, keys, args)
        monkeypatch.setattr(store, "script", noted)
    page, more = await people.follow_page("star", "main", Which.FOLLOWERS, None, 5)
    assert [u for u, _ in page] == fans[300:305] and more
    assert reads.take() <= 300 + 5 + 512
    if chunks:
        assert len(chunks) <= 6


# -- stores written before the follow indexes were ordered ---------------------------------


async def test_old_plain_set_indexes_still_list_and_convert_when_touched() -> None:
    """Redis data of the earlier layout: plain sets under the same key names. They list as
    before; the first script that touches one turns it into the sorted set, once; changes
    made after that are kept."""
    async with _stores("redis") as (people, _, redis_store):
        fans = list(_fans(2500))  # more than one ZADD batch of the conversion
        await _many_follow(people, [(fan, "star") for fan in fans]
                           + [("star", fan) for fan in fans[:5]])
        await people.change_relations("star", fans[7], block("star"))
        await people.change_relations(fans[7], "star", follow(fans[7], "main"))
        redis = redis_store.redis
        keys = redis_store.keys
        for user in ("star", *fans[:10]):
            for key in (keys.following(user, "main"), keys.followers(user, "main")):
                members = await redis.zrange(key, 0, -1)
                await redis.delete(key)
                if members:
                    await redis.sadd(key, *members)
        assert await redis.type(keys.followers("star", "main")) in (b"set", "set")
        expected = [(fan, fan in fans[:5]) for fan in fans if fan != fans[7]]
        assert await pages(people, "star", "main", Which.FOLLOWERS, 100) == expected
        assert await redis.type(keys.followers("star", "main")) in (b"zset", "zset")
        assert await redis.zcard(keys.followers("star", "main")) == 2500
        # A follow change converts the keys it writes first.
        assert await redis.type(keys.following(fans[9], "main")) in (b"set", "set")
        await people.change_relations(fans[9], "zed", follow(fans[9], "main"))
        await people.change_relations(fans[8], "star", unfollow(fans[8], "main"))
        assert await redis.type(keys.following(fans[9], "main")) in (b"zset", "zset")
        assert await pages(people, fans[9], "main", Which.FOLLOWING, 1) == [
            ("star", False), ("zed", False)]
        assert await pages(people, fans[8], "main", Which.FOLLOWING, 3) == []
        assert await people.follows(fans[0], "main") == ({"star"}, {"star"})
        assert await pages(people, "star", "main", Which.FRIENDS, 2) == [
            (fan, True) for fan in fans[:5]]

