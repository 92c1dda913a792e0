"""Issue 12, item 7: a Redis that stops answering (docs/security.md).

A private redis-server is frozen with SIGSTOP under two nodes: requests that need it are
answered `internal` while it is still frozen (not when it wakes), both nodes' /healthz say
503, and once it runs again (SIGCONT) both say ok and serve rooms again without a restart.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Iterator

import pytest
import redis

from server.process import RedisServer, RedisUnavailable
from tests.support.server import RunningServer, WireClient, close_all, http_get, running_server

STORE_TIMEOUT = 1.0


@pytest.fixture
def private_redis() -> Iterator[RedisServer]:
    # Its own server: freezing the session's shared one would stall every other test.
    try:
        server = RedisServer()
        server.start()
    except RedisUnavailable as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"Redis is required on CI: {exc}")
        pytest.skip(str(exc))
    try:
        yield server
    finally:
        server.stop()


def redis_pid(url: str) -> int:
    client = redis.Redis.from_url(url)
    try:
        return int(client.info("server")["process_id"])
    finally:
        client.close()


async def health(node: RunningServer) -> int:
    status, _, _ = await http_get(node.host, node.port, "/healthz")
    return status


async def until_health(nodes: list[RunningServer], status: int, timeout: float = 15.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while [await health(n) for n in nodes] != [status] * len(nodes):
        assert loop.time() < deadline, f"/healthz never said {status}"
        await asyncio.sleep(0.1)


async def until_ok(client: WireClient, verb: str, timeout: float = 20.0,
                   **params: object) -> dict[str, object]:
    """Retry a request until it succeeds (the nodes settle after the stall)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        reply = await client.request(verb, **params)
        if reply["type"] == "ok":
            return reply
        assert loop.time() < deadline, reply
        await asyncio.sleep(0.2)


async def test_a_frozen_redis_fails_requests_in_time_and_the_nodes_recover(
        private_redis: RedisServer) -> None:
    url = private_redis.url
    pid = redis_pid(url)
    async with running_server(redis=url, node_id="stall-a", store_timeout=STORE_TIMEOUT) as a, \
            running_server(redis=url, node_id="stall-b", store_timeout=STORE_TIMEOUT) as b:
        host = await a.client("host")
        guest = await b.client("guest")
        room = (await host.call("create_room", title="stall"))["room"]["id"]
        await guest.call("join_room", room=room)
        await until_health([a, b], 200)
        os.kill(pid, signal.SIGSTOP)
        try:
            # Answered while Redis is still frozen: the reply cannot have waited for it.
            replies = await asyncio.gather(
                host.request("chat", room=room, text="into the void"),
                guest.request("chat", room=room, text="me too"),
                host.request("create_room", title="another"),
                guest.request("list_rooms"),
            )
            assert [r["code"] for r in replies] == ["internal"] * 4, replies
            await until_health([a, b], 503)
            # The connections themselves are fine: nothing was closed.
            assert host.close_code is None and guest.close_code is None
        finally:
            os.kill(pid, signal.SIGCONT)
        await until_health([a, b], 200)
        # Served again, across the nodes, by the same processes.
        await until_ok(guest, "join_room", room=room)
        await until_ok(host, "chat", room=room, text="back")
        line = await guest.event("chat_message", timeout=10, text="back")
        assert line["user"] == "host"
        again = await until_ok(guest, "create_room", title="after the stall")
        assert (await host.call("join_room", room=again["room"]["id"]))["type"] == "ok"  # type: ignore[index]
        await close_all([host, guest])
