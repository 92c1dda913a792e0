"""Issue 12, items 1 and 5: what an offer may cost the server (docs/security.md).

Real aiortc peers and a real MediaEngine on loopback: the room's clock ticks only while a
peer is connected; an answered peer that never connects is closed after the connect
timeout, a room's or a call's; an offer without a DTLS fingerprint is refused; at most
`max_candidates` remote candidates are checked (counted as STUN packets arriving at sockets
the test binds); the optional allowed networks keep checks away from every other address.
"""

from __future__ import annotations

import asyncio
import re
from types import SimpleNamespace

import pytest

from media.engine import MediaEngine
from media.offer_policy import OfferPolicy, screen_offer
from protocol.errors import ErrorCode, ProtocolError
from tests.media.test_call_audio import active_call, dial
from tests.media.test_engine import ROOM, build_room, join, session
from tests.support.rtc import close_all, tone_peer, wait_for

CANDIDATE_LINE = re.compile(r"^a=candidate:.*\r?\n", re.MULTILINE)


def engine_with(**settings: object) -> MediaEngine:
    values: dict[str, object] = {"announce_address": None}
    values.update(settings)
    return MediaEngine(SimpleNamespace(**values))


async def client_offer() -> tuple[object, str]:
    peer = tone_peer(None)
    return peer, await peer.offer()


def without_candidates(sdp: str) -> str:
    return CANDIDATE_LINE.sub("", sdp)


def with_candidates(sdp: str, ports: list[int], host: str = "127.0.0.1") -> str:
    """The offer with its own candidates replaced by host candidates at `host:ports`."""
    lines = "".join(f"a=candidate:{i} 1 udp {2130706431 - i} {host} {port} typ host\r\n"
                    for i, port in enumerate(ports))
    sdp = without_candidates(sdp)
    # Into the first (audio) section, after its ICE credentials.
    at = sdp.index("a=ice-pwd:")
    end = sdp.index("\n", at) + 1
    return sdp[:end] + lines + sdp[end:]


class StunCounter(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.packets = 0

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        # A STUN message: first two bits zero, the magic cookie at bytes 4..8.
        if len(data) >= 20 and data[4:8] == b"\x21\x12\xa4\x42":
            self.packets += 1


async def stun_sinks(count: int) -> tuple[list[asyncio.DatagramTransport], list[StunCounter]]:
    loop = asyncio.get_running_loop()
    transports, counters = [], []
    for _ in range(count):
        transport, counter = await loop.create_datagram_endpoint(
            StunCounter, local_addr=("127.0.0.1", 0))
        transports.append(transport)
        counters.append(counter)
    return transports, counters


async def test_an_offer_without_a_fingerprint_is_refused() -> None:
    engine = engine_with()
    peer, sdp = await client_offer()
    try:
        stripped = re.sub(r"^a=fingerprint:.*\r?\n", "", sdp, flags=re.MULTILINE)
        with pytest.raises(ProtocolError) as err:
            await engine.offer(build_room("host"), "host", stripped)
        assert err.value.code is ErrorCode.BAD_REQUEST and err.value.field == "sdp"
        assert "fingerprint" in err.value.message
        assert ROOM not in engine.rooms  # nothing was kept of it
    finally:
        await close_all([peer])  # type: ignore[list-item]
        await engine.close()


async def test_the_clock_waits_for_a_connected_peer_and_a_silent_offer_is_closed() -> None:
    engine = engine_with(media_connect_timeout=0.5)
    room = build_room("host", audience=["lis"])
    peer, sdp = await client_offer()
    try:
        # Answered (the contract allows an offer without candidates), but it cannot connect:
        # its room must not tick, and the connection goes after the connect timeout.
        await engine.offer(room, "host", without_candidates(sdp))
        s = session(engine)
        assert "host" in engine.rooms[ROOM].peers
        assert not s.running and s.stats.ticks == 0
        await wait_for(lambda: ROOM not in engine.rooms, 5.0)
        assert s.stats.ticks == 0
    finally:
        await close_all([peer])  # type: ignore[list-item]
        await engine.close()


async def test_a_call_leg_that_never_connects_is_closed_and_a_connected_one_stays() -> None:
    engine = engine_with(media_connect_timeout=0.5)
    call = active_call()
    silent, sdp = await client_offer()
    bob = None
    try:
        await engine.offer_call(call, "ann", without_candidates(sdp))
        media = engine.calls.calls[call.id]
        assert "ann" in media.legs
        bob = await dial(engine, call, "bob", tone_peer(660.0))
        await wait_for(lambda: "ann" not in media.legs, 5.0)
        await asyncio.sleep(0.6)  # past bob's own deadline
        assert list(media.legs) == ["bob"] and engine.calls.calls[call.id] is media
    finally:
        await close_all([p for p in (silent, bob) if p is not None])  # type: ignore[misc]
        await engine.close()


async def test_the_clock_runs_while_a_peer_is_connected_and_pauses_after() -> None:
    engine = engine_with(media_connect_timeout=30.0)
    room = build_room("host", audience=["lis"])
    lis_peer, lis_sdp = await client_offer()
    host = None
    try:
        # A listener whose offer cannot connect keeps the room's media, not its clock.
        await engine.offer(room, "lis", without_candidates(lis_sdp))
        s = session(engine)
        assert not s.running
        host = await join(engine, room, "host", tone_peer(300.0))
        await wait_for(lambda: s.running and s.stats.ticks > 5)
        # The one connected peer goes: the clock stops although the other peer is still there.
        await engine.drop_user(ROOM, "host")
        assert ROOM in engine.rooms and "lis" in engine.rooms[ROOM].peers
        assert not s.running
        ticks = s.stats.ticks
        await asyncio.sleep(0.2)
        assert s.stats.ticks == ticks
    finally:
        await close_all([p for p in (lis_peer, host) if p is not None])  # type: ignore[misc]
        await engine.close()


async def test_at_most_max_candidates_remote_candidates_are_checked() -> None:
    transports, counters = await stun_sinks(30)
    engine = engine_with(max_candidates=10)
    peer, sdp = await client_offer()
    try:
        ports = [t.get_extra_info("sockname")[1] for t in transports]
        await engine.offer(build_room("host"), "host", with_candidates(sdp, ports))
        # aioice checks each pair in turn; give it time to reach well past the tenth.
        await wait_for(lambda: sum(c.packets > 0 for c in counters) >= 10, 10.0)
        await asyncio.sleep(1.5)
        checked = [i for i, c in enumerate(counters) if c.packets > 0]
        assert checked == list(range(10)), checked  # the first ten, in the offer's order
    finally:
        for transport in transports:
            transport.close()
        await close_all([peer])  # type: ignore[list-item]
        await engine.close()


async def test_allowed_networks_keep_checks_inside_them() -> None:
    transports, counters = await stun_sinks(3)
    ports = [t.get_extra_info("sockname")[1] for t in transports]
    peer, sdp = await client_offer()
    outside = engine_with(media_networks=("10.0.0.0/8",))
    inside = engine_with(media_networks=("127.0.0.0/8",))
    try:
        with pytest.raises(ProtocolError) as err:
            await outside.offer(build_room("host"), "host", with_candidates(sdp, ports))
        assert err.value.code is ErrorCode.BAD_REQUEST and "allowed networks" in err.value.message
        await asyncio.sleep(0.5)
        assert all(c.packets == 0 for c in counters)
        await inside.offer(build_room("host"), "host", with_candidates(sdp, ports))
        await wait_for(lambda: all(c.packets > 0 for c in counters), 10.0)
    finally:
        for transport in transports:
            transport.close()
        await close_all([peer])  # type: ignore[list-item]
        await outside.close()
        await inside.close()


def test_screen_offer_drops_addresses_no_peer_can_have() -> None:
    base = ("v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\n"
            "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\n"
            "a=rtcp-mux\r\na=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuv\r\n"
            "a=fingerprint:sha-256 " + ":".join(["AB"] * 32) + "\r\na=setup:actpass\r\n"
            "a=rtpmap:111 opus/48000/2\r\n")
    bad = ["0.0.0.0 5000", "224.0.0.1 5000", "255.255.255.255 5000", "127.0.0.1 0"]
    good = ["127.0.0.1 5000", "host.local 5001"]
    lines = [f"a=candidate:{i} 1 udp 1 {where} typ host\r\n"
             for i, where in enumerate(bad + good)]
    kept = screen_offer(base + "".join(lines), OfferPolicy())
    assert [line.split()[4] for line in kept.splitlines() if line.startswith("a=candidate")] \
        == ["127.0.0.1", "host.local"]
    with pytest.raises(ValueError):
        screen_offer(base + "".join(lines[:4]), OfferPolicy())  # nothing usable is left
