"""`list_follows` pages of a star with many followers: `python -m bench.follow_pages`.

For each size, a star with that many followers (and following every 1000th back) in
MemoryPeople and in RedisPeople on a private redis-server; it prints the µs per page of
`follow_page` (50 a page, at random cursors) for `followers` and `friends`, and, for
comparison, what one page cost before pages were read from ordered indexes: both whole
sets read (`follows`), filtered and sorted (`social.graph.follow_view`), then cut.

The indexes are filled directly (the bench is about reading): each `follows` is the same
index write a follow makes, without its pair hash. Bounded: about 40 s at the default sizes.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
from collections.abc import Awaitable, Callable

from protocol.schema import Which
from social.graph import follow_view
from social.paging import page
from store.people import MemoryPeople, PeopleStore

APP = "main"
STAR = "star"
LIMIT = 50


def fans(n: int) -> list[str]:
    return [f"fan{i:07d}" for i in range(n)]


def fill_memory(people: MemoryPeople, users: list[str]) -> None:
    for fan in users:
        people._apply(True, "followers", STAR, APP, fan)
    for fan in users[::1000]:
        people._apply(True, "following", STAR, APP, fan)


async def fill_redis(people: PeopleStore, users: list[str]) -> None:
    from store.people_redis import RedisPeople

    assert isinstance(people, RedisPeople)
    keys = people.keys
    for start in range(0, len(users), 10_000):
        batch = users[start:start + 10_000]
        await people.redis.zadd(keys.followers(STAR, APP), dict.fromkeys(batch, 0))
    following = users[::1000]
    await people.redis.zadd(keys.following(STAR, APP), dict.fromkeys(following, 0))


async def timed(run: Callable[[], Awaitable[object]], repeat: int) -> float:
    """µs per call, over `repeat` calls."""
    start = time.perf_counter()
    for _ in range(repeat):
        await run()
    return (time.perf_counter() - start) / repeat * 1e6


async def measure(people: PeopleStore, users: list[str], pages: int) -> tuple[float, ...]:
    rng = random.Random(1)

    async def one(which: Which) -> None:
        after = rng.choice(users)
        await people.follow_page(STAR, APP, which, after, LIMIT)

    async def whole() -> None:
        following, followers = await people.follows(STAR, APP)
        view = follow_view(Which.FOLLOWERS, following=following, followers=followers,
                           blocking=await people.blocking(STAR))
        page(view, LIMIT, None, key=lambda entry: entry[0])

    followers = await timed(lambda: one(Which.FOLLOWERS), pages)
    friends = await timed(lambda: one(Which.FRIENDS), pages)
    before = await timed(whole, 1 if len(users) >= 100_000 else 5)
    return followers, friends, before


async def run(sizes: list[int], pages: int) -> None:
    from server.process import RedisServer
    from store.people_redis import RedisPeople
    from store.redis import RedisStore

    print(f"{'store':<7} {'followers':>10} {'followers µs':>13} {'friends µs':>11} "
          f"{'whole-list µs':>14}")
    redis = RedisServer()
    redis.start()
    try:
        for size in sizes:
            users = fans(size)
            memory = MemoryPeople()
            fill_memory(memory, users)
            figures = await measure(memory, users, pages)
            print(f"{'memory':<7} {size:>10,} {figures[0]:>13.1f} {figures[1]:>11.1f} "
                  f"{figures[2]:>14.0f}", flush=True)
            del memory
            store = RedisStore(redis.url, "bench-follows")
            try:
                people = RedisPeople(store)
                await store.redis.flushdb()
                await fill_redis(people, users)
                figures = await measure(people, users, pages)
                print(f"{'redis':<7} {size:>10,} {figures[0]:>13.1f} {figures[1]:>11.1f} "
                      f"{figures[2]:>14.0f}", flush=True)
            finally:
                await store.close()
    finally:
        redis.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,10000,1000000",
                        help="follower counts, comma-separated")
    parser.add_argument("--pages", type=int, default=500, help="pages timed per list")
    args = parser.parse_args()
    asyncio.run(run([int(s) for s in args.sizes.split(",")], args.pages))


if __name__ == "__main__":
    main()
