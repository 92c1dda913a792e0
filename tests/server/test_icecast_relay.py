"""The relay tier: Debian's icecast2 pulls a room's listen.ogg through a `<relay>` (the
configuration docs/deployment.md shows) and a listener reading from Icecast hears the room
(PyAV decode, FFT). Icecast's added delay is measured against a listener of the server itself,
packet by packet, and printed (`-s` shows it); docs/deployment.md quotes it."""

from __future__ import annotations

import asyncio
import statistics
from collections.abc import AsyncIterator

import pytest

from audio.ogg_read import OggPacketReader
from audio.sources import tone_levels
from tests.support.http_stream import HttpStream, decode_ogg, open_stream, parse_pages
from tests.support.icecast import icecast_path, icecast_relay
from tests.support.rtc import connect, tone_peer
from tests.support.server import RunningServer, running_server

HEARD_DB = -30.0
# No whole number of cycles in a few frames: the encoder's packets never repeat.
TONE = 737.3
MOUNT_TIMEOUT = 15.0
# Bytes of the recent stream a new Icecast listener gets at once (Icecast's default: 65535,
# about 8 s of a 64 kb/s room); its player starts that far behind the live edge.
BURST_BYTES = 16384


@pytest.fixture
async def server() -> AsyncIterator[RunningServer]:
    async with running_server(media=True) as running:
        yield running


async def timed_packets(stream: HttpStream, seconds: float) -> list[tuple[float, bytes]]:
    """(arrival time, packet) for each audio packet read within ``seconds``."""
    loop = asyncio.get_running_loop()
    ogg = OggPacketReader()
    out: list[tuple[float, bytes]] = []
    end = loop.time() + seconds
    while loop.time() < end:
        data = await stream.read_some()
        if not data:
            break
        now = loop.time()
        out += [(now, packet) for packet in ogg.feed(data)]
    return out


async def wait_mount(port: int, mount: str) -> HttpStream:
    """Icecast answers 404 until its relay has connected upstream."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + MOUNT_TIMEOUT
    while True:
        stream = await open_stream("127.0.0.1", port, mount)
        if stream.status == 200:
            return stream
        await stream.close()
        if loop.time() > deadline:
            raise TimeoutError(f"icecast never served {mount}")
        await asyncio.sleep(0.2)


async def test_icecast_relays_the_room_to_its_listeners(server: RunningServer) -> None:
    icecast_path()
    host = await server.client("host")
    rid = (await host.call("create_room", title="broadcast"))["room"]["id"]

    async def send(sdp: str) -> str:
        return str((await host.call("webrtc_offer", room=rid, sdp=sdp))["sdp"])

    peer = await connect(tone_peer(TONE, receive=False), send)
    mount = f"/rooms/{rid}/listen.ogg"
    try:
        with icecast_relay(upstream_host=server.host, upstream_port=server.port,
                           upstream_mount=mount, burst_size=BURST_BYTES) as icecast:
            await (await wait_mount(icecast.port, "/room.ogg")).close()
            await asyncio.sleep(3.0)  # Icecast's queue fills past the burst size
            direct = await open_stream(server.host, server.port, mount)
            relayed = await open_stream("127.0.0.1", icecast.port, "/room.ogg")
            assert relayed.status == 200
            assert relayed.headers["content-type"] == "application/ogg" or \
                relayed.headers["content-type"].startswith("audio/ogg")
            # Icecast pulls with HTTP/1.0: one listener of the server, however many it has.
            assert server.app.listening.listeners(rid) == 2
            started = asyncio.get_running_loop().time()
            got_direct, got_relayed = await asyncio.gather(
                timed_packets(direct, 6.0), timed_packets(relayed, 6.0))
            await relayed.close()
        body = bytes(relayed.body)
        pages = parse_pages(body, partial=True)
        assert pages[0].packets[0].startswith(b"OpusHead")
        heard = tone_levels(decode_ogg(body)[-48000:], [TONE, TONE * 1.5])
        assert heard[TONE] > HEARD_DB and heard[TONE * 1.5] < heard[TONE] - 30, heard

        # Icecast's added delay: the same packet's arrival there and here. Three packets in a
        # row name a moment; should a run ever repeat, the latest arrival here before it
        # arrived there is taken.
        arrivals: dict[bytes, list[float]] = {}
        for i in range(len(got_direct) - 2):
            key = b"|".join(p for _, p in got_direct[i:i + 3])
            arrivals.setdefault(key, []).append(got_direct[i][0])
        delays = []
        for i in range(len(got_relayed) - 2):
            at = got_relayed[i][0]
            key = b"|".join(p for _, p in got_relayed[i:i + 3])
            earlier = [t for t in arrivals.get(key, []) if t <= at]
            if earlier and at > started + 2.0:  # after the connect burst
                delays.append(at - max(earlier))
        assert len(delays) > 100, len(delays)
        # The connect burst: audio a new Icecast listener gets at once, so its player starts
        # that far behind the live edge.
        burst = sum(1 for at, _ in got_relayed if at < started + 0.3) * 0.020 - 0.3
        assert burst > 0.5
        print(f"\nicecast relay: +{statistics.median(delays) * 1000:.1f} ms median per packet "
              f"(p95 {sorted(delays)[int(len(delays) * 0.95)] * 1000:.1f} ms) over "
              f"{len(delays)} packets; connect burst {burst:.2f} s of audio")
        await direct.close()
    finally:
        await peer.close()
        await host.close()

