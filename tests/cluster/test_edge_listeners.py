"""Edge listeners (docs/protocol.md, "Listening without WebRTC, recording"): an audience
member's listen-only offer is answered by the node it is connected to, fed one relayed copy of
the room's mix by the owner. Two run_server.py processes on one real Redis, real aiortc peers,
real Opus; what the listener hears is checked by FFT."""

from __future__ import annotations

import asyncio
import os
import statistics
from typing import Any

from aiortc import RTCPeerConnection, RTCSessionDescription

from media.answer import new_peer_connection, prefer_opus
from media.inbound import fast_receive, tap_receiver
from tests.cluster.test_cluster_media import EVENT_TIMEOUT, media_peers, offer
from tests.support.cluster import cluster_nodes
from tests.support.rtc import close_all, levels_db, tone_peer, wait_for, wait_recorded
from tests.support.server import ServerProcess, WireClient, http_get
from tests.support.server import close_all as close_clients

HEARD_DB = -30.0
EDGE_LISTENERS = 40
WINDOW = 6.0
# The owner's CPU with EDGE_LISTENERS edge listeners against one: a listener on the owner
# costs it ~15 us per packet (docs/benchmarks.md), so 40 of them there would add ~50 % (the
# owner idles at ~5 %); what a loaded machine does to a window stays under half of that.
MAX_GROWTH = 1.25


async def metric(node: ServerProcess, name: str) -> float:
    _, _, body = await http_get(node.host, node.port, "/metrics")
    for line in body.decode().splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"no {name} in /metrics")


def cpu_seconds(pid: int) -> float:
    """CPU time of every thread of the process, to the nanosecond (the scheduler's own
    account: /proc's utime and stime are sampled at 100 Hz, too coarse for a 2 s window)."""
    total = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/schedstat", encoding="ascii") as f:
                total += int(f.read().split()[0])
        except FileNotFoundError:
            continue  # a thread that just ended
    return total / 1e9


async def room_with_a_speaker(owner: ServerProcess, freq: float) -> tuple[WireClient, str, Any]:
    host = await owner.client("host")
    room_id = (await host.call("create_room", title="Edge", auto_chatroom_at=0))["room"]["id"]
    speaker = tone_peer(freq)
    await offer(host, room_id, speaker)  # the first offer: the host's node owns the media
    return host, room_id, speaker


async def test_a_listener_on_another_node_hears_the_room_through_its_own_node(
    redis_url: str,
) -> None:
    async with cluster_nodes(redis_url, ["a", "b"], "--grace", "30") as (a, b):
        host, room_id, speaker = await room_with_a_speaker(a, 440.0)
        fan = await b.client("fan")
        sending = tone_peer(660.0)  # sendrecv: not listen-only, so the owner answers it
        listener = tone_peer(None)  # receive only: a recvonly offer
        relistener = tone_peer(None)
        try:
            await fan.call("join_room", room=room_id)
            await offer(fan, room_id, sending)
            assert await media_peers(a) == 2
            await offer(fan, room_id, listener)
            # Answered by B, and A let the fan's first connection go: one left, the host's.
            await wait_for_async(lambda: media_peers(a), 1)
            await wait_recorded([listener], 1.0)
            heard = levels_db(listener, [440.0, 660.0])
            assert heard[440.0] > HEARD_DB and heard[660.0] < heard[440.0] - 30, heard
            # /metrics tells: B serves one edge listener, A relays to B, B took its packets.
            assert await metric(b, "voiceroom_media_edge_peers") == 1
            assert await metric(a, "voiceroom_media_relay_sent_total") > 0
            assert await metric(b, "voiceroom_media_edge_packets_sent_total") > 0
            fan.drain()

            a.proc.kill()  # the owner dies: B's listener is told and offers again
            await a.proc.wait()
            await fan.event("room_state", timeout=EVENT_TIMEOUT)
            await offer(fan, room_id, relistener)  # nobody owns the room now: B takes it
            assert relistener.pc.connectionState == "connected"
            assert await media_peers(b) == 1
        finally:
            await close_all([speaker, sending, listener, relistener])
            await close_clients([host, fan])


async def wait_for_async(read: Any, expected: float, timeout: float = 5.0) -> None:
    for _ in range(int(timeout / 0.1)):
        if await read() == expected:
            return
        await asyncio.sleep(0.1)
    assert await read() == expected


class LightListener:
    """A listen-only peer that counts what arrives (no decoding): many fit in the test."""

    def __init__(self) -> None:
        self.pc: RTCPeerConnection = new_peer_connection()
        self.received = 0

    async def connect(self, client: WireClient, room_id: str) -> None:
        transceiver = self.pc.addTransceiver("audio", direction="recvonly")
        prefer_opus(transceiver)

        def count(seq: int, payload: bytes, level: Any) -> None:
            self.received += 1

        tap_receiver(transceiver.receiver, count)
        await self.pc.setLocalDescription(await self.pc.createOffer())
        reply = await client.call("webrtc_offer", room=room_id, sdp=self.pc.localDescription.sdp)
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=reply["sdp"], type="answer"))
        fast_receive(transceiver, count)
        await wait_for(lambda: self.pc.connectionState == "connected", 10.0)


async def owner_cpu(owner: ServerProcess, seconds: float) -> float:
    """The owner's CPU seconds per `seconds`: the median of three windows (a GC or a burst
    of other work on the machine lands in one of them)."""
    windows = []
    for _ in range(3):
        start = cpu_seconds(owner.proc.pid)
        await asyncio.sleep(seconds / 3)
        windows.append(cpu_seconds(owner.proc.pid) - start)
    return statistics.median(windows) * 3


async def test_the_owner_does_not_work_harder_for_more_listeners_on_another_node(
    redis_url: str,
) -> None:
    async with cluster_nodes(redis_url, ["a", "b"], "--grace", "30") as (a, b):
        host, room_id, speaker = await room_with_a_speaker(a, 440.0)
        clients: list[WireClient] = []
        listeners: list[LightListener] = []
        try:
            async def add_listener(i: int) -> None:
                client = await b.client(f"fan{i}")
                clients.append(client)
                await client.call("join_room", room=room_id)
                listener = LightListener()
                listeners.append(listener)
                await listener.connect(client, room_id)

            await add_listener(0)
            await asyncio.sleep(1.0)
            one = await owner_cpu(a, WINDOW)
            for start in range(1, EDGE_LISTENERS, 5):
                await asyncio.gather(*(add_listener(i) for i in
                                       range(start, min(EDGE_LISTENERS, start + 5))))
            await asyncio.sleep(1.0)
            marks = [listener.received for listener in listeners]
            many = await owner_cpu(a, WINDOW)
            # Every edge listener got the room's packets meanwhile (50 a second).
            got = [listener.received - mark for listener, mark in zip(listeners, marks,
                                                                      strict=True)]
            print(f"owner CPU: {one / WINDOW:.1%} with 1 edge listener, "
                  f"{many / WINDOW:.1%} with {EDGE_LISTENERS}: ratio {many / one:.2f}")
            assert min(got) > 0.8 * 50 * WINDOW, got
            assert await media_peers(a) == 1
            assert many / one < MAX_GROWTH, (one, many)
        finally:
            await asyncio.gather(*(listener.pc.close() for listener in listeners),
                                 return_exceptions=True)
            await close_all([speaker])
            await close_clients([host, *clients])


async def test_when_the_owner_dies_an_edge_listener_hears_the_new_owner(
    redis_url: str,
) -> None:
    """Three nodes: A owns the room, a seated speaker is connected through C, a listener
    through B. A dies: C takes the room (the speaker's offer), B's listener offers again and is
    fed by C, whose clock starts afresh."""
    async with cluster_nodes(redis_url, ["a", "b", "c"], "--grace", "30") as (a, b, c):
        host = await a.client("host")
        room_id = (await host.call("create_room", title="Edge", seat_mode="free"))["room"]["id"]
        await host.call("open_chatroom", room=room_id)
        singer, fan = await c.client("singer"), await b.client("fan")
        peers = [tone_peer(440.0), tone_peer(660.0), tone_peer(None), tone_peer(660.0),
                 tone_peer(None)]
        host_peer, singer_peer, listener, singer_again, listener_again = peers
        try:
            await offer(host, room_id, host_peer)  # A owns the room
            await singer.call("join_room", room=room_id)
            await singer.call("take_seat", room=room_id, seat=0)
            await offer(singer, room_id, singer_peer)  # forwarded to A
            await fan.call("join_room", room=room_id)
            await offer(fan, room_id, listener)  # answered by B
            await wait_recorded([listener], 1.0)
            assert levels_db(listener, [660.0])[660.0] > HEARD_DB
            singer.drain()
            fan.drain()

            a.proc.kill()
            await a.proc.wait()
            await singer.event("room_state", timeout=EVENT_TIMEOUT)
            await offer(singer, room_id, singer_again)  # C claims the room
            await fan.event("room_state", timeout=EVENT_TIMEOUT)
            await offer(fan, room_id, listener_again)  # B again, fed by C now
            assert await metric(b, "voiceroom_media_edge_peers") == 1
            assert await media_peers(c) == 1
            await wait_recorded([listener_again], 1.5)
            heard = levels_db(listener_again, [440.0, 660.0])
            assert heard[660.0] > HEARD_DB and heard[440.0] < heard[660.0] - 30, heard
        finally:
            await close_all(peers)
            await close_clients([host, singer, fan])
