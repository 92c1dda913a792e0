"""The floods of bench/abuse.py, one coroutine each: `flood(ctx, seconds) -> what it got`.

Each is what the review of issue 12 did to the server (docs/security.md), bounded in
clients, frames and time (bench/abuse_kit.py has the sockets they use).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

from bench.abuse_kit import Ctx, Socket, closed_all, for_seconds, kernel_send_queue, lean, scrape
from bench.lean_client import LeanClient
from client.connection import ClientError

CANDIDATE_LINE = re.compile(r"^a=candidate:.*\r?\n", re.MULTILINE)
# A frame of 58 KB of nested arrays: what cost 5.7 ms to decode before the codec's bounds.
NESTED = b"\x91" * 58_000 + b"\xc0"
TEXT = "x" * 500


# --- the floods ------------------------------------------------------------------------------


async def idle(ctx: Ctx, seconds: float) -> dict[str, Any]:
    await asyncio.sleep(seconds)
    return {}


async def offers(ctx: Ctx, seconds: float) -> dict[str, Any]:
    """Ten users create rooms and offer media that can never connect (candidates stripped),
    each at the default rate (20 requests a second), as the review did."""
    from aiortc import RTCConfiguration, RTCPeerConnection  # the attacker's one real offer

    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    pc.addTransceiver("audio", direction="sendrecv")
    await pc.setLocalDescription(await pc.createOffer())
    sdp = CANDIDATE_LINE.sub("", pc.localDescription.sdp)
    await pc.close()
    counts: Counter[str] = Counter()
    clients = [await lean(ctx, f"offerer{i}") for i in range(10)]

    async def one(client: LeanClient) -> None:
        rooms: list[str] = []

        async def step() -> None:
            try:
                rooms.append(str((await client.create_room("flood"))["room"]["id"]))
                counts["rooms created"] += 1
            except ClientError as exc:
                counts[f"create_room {exc.code}"] += 1
            for room in rooms[-1:]:
                try:
                    await client.request("webrtc_offer", room=room, sdp=sdp)
                    counts["offers answered"] += 1
                except ClientError as exc:
                    counts[f"offer {exc.code}"] += 1
            await asyncio.sleep(0.1)  # two requests a step: 20 a second

        await for_seconds(seconds, step)

    await asyncio.gather(*(one(c) for c in clients))
    for c in clients:
        await c.close()
    return dict(counts)


async def junk_before_hello(ctx: Ctx, seconds: float) -> dict[str, Any]:
    """Six sockets that never say hello send 58 KB frames of nested arrays; they reconnect
    when the server closes them."""
    counts: Counter[str] = Counter()
    deadline = time.monotonic() + seconds

    async def one() -> None:
        async def step() -> None:
            sock = await Socket.open(ctx)
            while sock.open_ and sock.close_code is None and time.monotonic() < deadline:
                sock.frame(NESTED)
                counts["frames written"] += 1
                await sock.paced()
                await asyncio.sleep(0.002)
            # Told to close (or cut): the attacker opens the next socket.
            counts[f"closed by the server ({sock.close_code})"
                   if sock.close_code is not None or not sock.open_
                   else "still open at the end"] += 1
            sock.close()

        await for_seconds(seconds, step)

    await asyncio.gather(*(one() for _ in range(6)))
    return dict(counts)


async def bad_frames(ctx: Ctx, seconds: float) -> dict[str, Any]:
    """Six signed-in sockets send frames that are no request at all."""
    counts: Counter[str] = Counter()
    deadline = time.monotonic() + seconds

    async def one(i: int) -> None:
        async def step() -> None:
            sock = await Socket.open(ctx, f"garbler{i}")
            while sock.open_ and sock.close_code is None and time.monotonic() < deadline:
                sock.frame(b"\xc1")
                counts["frames written"] += 1
                await sock.paced()
                await asyncio.sleep(0.001)
            # Told to close (or cut): the attacker opens the next socket.
            counts[f"closed by the server ({sock.close_code})"
                   if sock.close_code is not None or not sock.open_
                   else "still open at the end"] += 1
            sock.close()

        await for_seconds(seconds, step)

    await asyncio.gather(*(one(i) for i in range(6)))
    return dict(counts)


async def over_rate(ctx: Ctx, seconds: float) -> dict[str, Any]:
    """Ten signed-in sockets send list_rooms at 1,000 a second each, never waiting."""
    sockets = [await Socket.open(ctx, f"flooder{i}") for i in range(10)]
    rid = 2

    async def step() -> None:
        nonlocal rid
        for sock in sockets:
            for _ in range(10):
                rid += 1
                sock.send({"id": rid, "type": "list_rooms", "limit": 5})
        await asyncio.sleep(0.01)

    await for_seconds(seconds, step)
    await asyncio.sleep(0.5)
    replies: Counter[str] = Counter()
    for sock in sockets:
        replies.update(sock.replies)
    closed_all(sockets)
    return {f"replies {k}": v for k, v in replies.items()}


async def idle_slots(ctx: Ctx, seconds: float) -> dict[str, Any]:
    """Fifty sockets that never say hello (nor answer a close), past the hello timeout."""
    sockets = [await Socket.open(ctx) for _ in range(50)]
    await asyncio.sleep(seconds)
    told = Counter(s.close_code for s in sockets if s.close_code is not None)
    closed = sum(1 for s in sockets if not s.open_)
    closed_all(sockets)
    return {"of": len(sockets), "told to close": dict(told), "dropped by the server": closed}


async def one_user_many_sockets(ctx: Ctx, seconds: float) -> dict[str, Any]:
    """One user's 20 sockets chat as fast as they can into a room of 50 listeners."""
    host = await lean(ctx, "chathost")
    room = str((await host.create_room("chat flood"))["room"]["id"])
    delivered = Counter[str]()
    listeners = [await lean(ctx, f"listener{i}",
                            lambda e: delivered.update([str(e.get("type"))]))
                 for i in range(50)]
    for listener in listeners:
        await listener.join_room(room)
    sockets = [await Socket.open(ctx, "spammer") for _ in range(20)]
    joined = await lean(ctx, "spammer")  # the connection that joined (the sockets did not)
    await joined.join_room(room)
    delivered.clear()
    rid = 2

    async def step() -> None:
        nonlocal rid
        for sock in sockets:
            rid += 1
            sock.send({"id": rid, "type": "chat", "room": room, "text": "spam"})
        with contextlib.suppress(ClientError):
            await joined.chat(room, "spam")

    started = time.monotonic()
    await for_seconds(seconds, step)
    took = time.monotonic() - started
    await asyncio.sleep(0.5)
    replies: Counter[str] = Counter()
    for sock in sockets:
        replies.update(sock.replies)
    closed_all(sockets)
    for c in (host, joined, *listeners):
        await c.close()
    return {"chat lines/s reaching the room": round(delivered["chat_message"] / 50 / took, 1),
            "chat events/s delivered": round(delivered["chat_message"] / took),
            **{f"side sockets' replies {k}": v for k, v in replies.items()}}


async def slow_readers(ctx: Ctx, seconds: float) -> dict[str, Any]:
    """Twenty members with small receive buffers stop reading while twenty others chat
    500-character lines at the default rate (the room's output piles up on the server)."""
    host = await lean(ctx, "slowhost")
    room = str((await host.create_room("slow"))["room"]["id"])
    readers = [await Socket.open(ctx, f"reader{i}", receive_buffer=4096) for i in range(20)]
    for reader in readers:
        reader.send({"id": 2, "type": "join_room", "room": room})
        await asyncio.sleep(0.01)
        assert reader.transport is not None
        reader.transport.pause_reading()
    chatters = [await lean(ctx, f"chatter{i}") for i in range(20)]
    for chatter in chatters:
        await chatter.join_room(room)

    async def chat(chatter: LeanClient) -> None:
        async def step() -> None:
            with contextlib.suppress(ClientError):
                await chatter.chat(room, TEXT)
            await asyncio.sleep(0.05)

        await for_seconds(seconds, step)

    # A reader that does not read does not see its socket go either: the server's own
    # figures say what it freed.
    before = await scrape(ctx)
    started = time.monotonic()
    await asyncio.gather(*(chat(c) for c in chatters))
    await asyncio.sleep(8.0)
    after = await scrape(ctx)
    # What the server's kernel still holds for readers that are still there, not reading
    # (a socket the server cut with a reset holds nothing; one closed gracefully, all of it).
    queued, holding = kernel_send_queue(ctx.port, {r.port for r in readers})
    closed_all(readers)
    for c in (host, *chatters):
        await c.close()
    return {"readers closed as too slow": after.get("voiceroom_slow_clients_closed_total", 0)
            - before.get("voiceroom_slow_clients_closed_total", 0),
            "of": len(readers),
            "connections left": after.get("voiceroom_connections", 0)
            - before.get("voiceroom_connections", 0) + len(readers),
            "after seconds": round(time.monotonic() - started),
            "kernel send queue left (MB)": round(queued / 1e6, 1), "in sockets": holding}


async def candidates(ctx: Ctx, seconds: float) -> dict[str, Any]:
    """One offer listing 500 host candidates at 50 local UDP ports: STUN the server sends."""
    from aiortc import RTCConfiguration, RTCPeerConnection

    loop = asyncio.get_running_loop()
    hits: Counter[int] = Counter()

    class Sink(asyncio.DatagramProtocol):
        def __init__(self) -> None:
            self.port = 0

        def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
            if len(data) >= 20 and data[4:8] == b"\x21\x12\xa4\x42":
                hits[self.port] += 1

    sinks = []
    for _ in range(50):
        transport, sink = await loop.create_datagram_endpoint(Sink, local_addr=("127.0.0.1", 0))
        sink.port = transport.get_extra_info("sockname")[1]
        sinks.append((transport, sink))
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    pc.addTransceiver("audio", direction="sendrecv")
    await pc.setLocalDescription(await pc.createOffer())
    sdp = CANDIDATE_LINE.sub("", pc.localDescription.sdp)
    await pc.close()
    lines = "".join(f"a=candidate:{i} 1 udp {2130706431 - i} 127.0.0.1 {sinks[i % 50][1].port} "
                    "typ host\r\n" for i in range(500))
    at = sdp.index("\n", sdp.index("a=ice-pwd:")) + 1
    client = await lean(ctx, "stunner")
    room = str((await client.create_room("stun"))["room"]["id"])
    with contextlib.suppress(ClientError):
        await client.request("webrtc_offer", room=room, sdp=sdp[:at] + lines + sdp[at:])
    await asyncio.sleep(seconds)
    for transport, _ in sinks:
        transport.close()
    await client.close()
    return {"STUN packets sent": sum(hits.values()), "to addresses": len(hits)}


async def redis_stall(ctx: Ctx, seconds: float) -> dict[str, Any]:
    """Redis frozen (SIGSTOP) for the flood's time: what requests and /healthz get."""
    from server.process import http_get

    if ctx.redis_pid is None:
        return {"skipped": "run with --redis"}
    import signal

    statuses: Counter[int] = Counter()
    os.kill(ctx.redis_pid, signal.SIGSTOP)
    try:
        async def step() -> None:
            statuses[(await http_get(ctx.host, ctx.port, "/healthz"))[0]] += 1
            await asyncio.sleep(0.2)

        await for_seconds(seconds, step)
    finally:
        os.kill(ctx.redis_pid, signal.SIGCONT)
    started = time.monotonic()
    while (await http_get(ctx.host, ctx.port, "/healthz"))[0] != 200:
        await asyncio.sleep(0.1)
    return {"/healthz while frozen": dict(statuses),
            "ok again after s": round(time.monotonic() - started, 1)}


FLOODS: dict[str, Callable[[Ctx, float], Awaitable[dict[str, Any]]]] = {
    "idle": idle,
    "offers": offers,
    "junk": junk_before_hello,
    "bad_frames": bad_frames,
    "over_rate": over_rate,
    "idle_slots": idle_slots,
    "one_user": one_user_many_sockets,
    "slow_readers": slow_readers,
    "candidates": candidates,
    "redis_stall": redis_stall,
}
