"""store.pubsub.subscribe_forever over both transports, on a real redis-server: messages in
order, and a subscription that Redis drops comes back (then `resubscribed` runs)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from store.pubsub import FeedFactory, RedisPyFeed, subscribe_forever
from store.resp import Pipeline
from tests.support.redis import fresh_redis_url

CHANNEL = "test:pubsub"


@pytest.fixture(params=["redis-py", "resp"])
async def feeds(request: pytest.FixtureRequest) -> AsyncIterator[tuple[aioredis.Redis,
                                                                       FeedFactory]]:
    client = aioredis.Redis.from_url(fresh_redis_url())
    if request.param == "redis-py":
        yield client, lambda channel: RedisPyFeed(client, channel)
    else:
        pipe = Pipeline.for_client(client)
        assert pipe is not None
        yield client, pipe.feed
        pipe.close()
    await client.aclose()


async def test_messages_arrive_in_order_and_survive_a_dropped_connection(
    feeds: tuple[aioredis.Redis, FeedFactory],
) -> None:
    client, factory = feeds
    got: list[bytes] = []
    resubscribed = asyncio.Event()
    subscribed = asyncio.Event()
    running = True

    async def on_resubscribed() -> None:
        resubscribed.set()

    task = asyncio.create_task(subscribe_forever(
        factory, CHANNEL, got.append, running=lambda: running, subscribed=subscribed,
        poll=0.1, resubscribed=on_resubscribed))
    try:
        await asyncio.wait_for(subscribed.wait(), 5)
        for i in range(5):
            await client.publish(CHANNEL, b"m%d" % i)
        async with asyncio.timeout(5):
            while len(got) < 5:
                await asyncio.sleep(0.01)
        assert got == [b"m0", b"m1", b"m2", b"m3", b"m4"]

        await client.execute_command("CLIENT", "KILL", "TYPE", "pubsub")
        await asyncio.wait_for(resubscribed.wait(), 5)
        # `resubscribed` runs once the new subscription is confirmed: nothing is lost after it.
        assert await client.publish(CHANNEL, b"again") == 1
        async with asyncio.timeout(5):
            while got[-1] != b"again":
                await asyncio.sleep(0.01)
    finally:
        running = False
        await asyncio.wait_for(task, 5)
