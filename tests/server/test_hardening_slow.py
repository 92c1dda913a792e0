"""Issue 12, item 4: a client that stops reading is freed (docs/security.md).

A real websocket whose reading is paused, with a small receive buffer: the server's output
to it piles up. Past the send-buffer limit it is closed; the close frame itself cannot be
written, so the transport is aborted, its handler ends and the member goes through the
normal disconnect (`away`, then the grace), and the kernel keeps none of its unsent bytes.
Below that limit, but with more unread than
websockets lets a write wait for (its keepalive ping would wait for ever), the stall check
closes it. One node, and two nodes sharing Redis (the host on the other node sees `away`).
"""

from __future__ import annotations

import asyncio
import socket

import pytest

from bench.abuse_kit import kernel_send_queue
from server import gateway as gateway_module
from tests.support.redis import fresh_redis_url
from tests.support.server import RunningServer, WireClient, close_all, running_server

TEXT = "x" * 500


@pytest.fixture(autouse=True)
def quick_closes(monkeypatch: pytest.MonkeyPatch) -> None:
    # Shorter than in production, so the test waits less; the order of things is the same.
    monkeypatch.setattr(gateway_module, "CLOSE_TIMEOUT", 0.5)
    monkeypatch.setattr(gateway_module, "STALL_CHECK", 0.1)
    monkeypatch.setattr(gateway_module, "STALL_TIMEOUT", 0.5)


async def non_reader(srv: RunningServer, user: str) -> WireClient:
    """A client on a socket with a small receive buffer; `pause()` it to stop reading."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((srv.host, srv.port))
    sock.setblocking(False)
    return await WireClient.connect(srv.url, user=user, sock=sock)


def server_side(srv: RunningServer, user: str) -> list[object]:
    return [c for c in srv.gateway.connections if c.user == user]


async def seat_stops_reading(host_srv: RunningServer, slow_srv: RunningServer,
                             flood_until: str) -> None:
    host = await host_srv.client("host")
    room = (await host.call("create_room", title="slow", seat_mode="free"))["room"]["id"]
    slow = await non_reader(slow_srv, "slow")
    try:
        await slow.call("join_room", room=room)
        await slow.call("take_seat", room=room, seat=0)
        await host.event("seat_changed", timeout=10)
        slow.ws.transport.pause_reading()
        (conn,) = server_side(slow_srv, "slow")
        transport = conn.ws.transport  # type: ignore[attr-defined]
        # The kernel's own send buffer grows to megabytes on loopback before the server's
        # buffer does; a fixed small one gets the test there sooner (nothing else changes).
        transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 8192)
        high = transport.get_write_buffer_limits()[1]
        batch = 50 if flood_until == "limit" else 5
        for _ in range(20_000 // batch):
            if flood_until == "limit" and conn.closing:  # type: ignore[attr-defined]
                break
            if flood_until == "stall" and transport.get_write_buffer_size() > 2 * high:
                break
            await asyncio.gather(*(host.call("chat", room=room, text=TEXT)
                                   for _ in range(batch)))
        else:
            raise AssertionError("the slow client was never over its limit")
        if flood_until == "stall":
            assert transport.get_write_buffer_size() < conn.send_limit  # type: ignore[attr-defined]
        # Freed: the server forgets the connection, the seat goes away for the grace.
        away = await host.event("seat_changed", timeout=15)
        assert away["seat"]["user"] == "slow" and away["seat"]["away"], away
        assert server_side(slow_srv, "slow") == []
        assert slow_srv.gateway.metrics.slow_clients_closed >= 1
        # The client is still there, not reading: the server's kernel holds nothing for it
        # (a reset dropped the unsent bytes; a plain close would leave them queued).
        mine = slow.ws.transport.get_extra_info("sockname")[1]
        assert kernel_send_queue(slow_srv.port, {mine}) == (0, 0)
    finally:
        await close_all([host, slow])


async def test_a_reader_past_the_send_limit_is_aborted_and_goes_away() -> None:
    async with running_server(rate=1e6, burst=10**6, grace=30) as srv:
        await seat_stops_reading(srv, srv, "limit")


async def test_a_stalled_reader_below_the_limit_is_closed_and_goes_away() -> None:
    async with running_server(rate=1e6, burst=10**6, grace=30) as srv:
        await seat_stops_reading(srv, srv, "stall")


async def test_a_reader_on_another_node_goes_away_for_the_host() -> None:
    url = fresh_redis_url()
    async with running_server(redis=url, node_id="slow-a", rate=1e6, burst=10**6,
                              grace=30) as a, \
            running_server(redis=url, node_id="slow-b", rate=1e6, burst=10**6, grace=30) as b:
        await seat_stops_reading(a, b, "limit")
