"""End to end: the whole server (websocket signaling, rooms, MediaEngine) and real aiortc
peers that play tones; what each member hears is checked by FFT."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from statistics import median

import numpy as np
import pytest

from media.session import RoomMixSession
from tests.support.rtc import (
    ClientMedia,
    close_all,
    connect,
    levels_db,
    lossy,
    tone_peer,
    wait_for,
    wait_recorded,
)
from tests.support.server import RunningServer, WireClient, running_server
from tests.support.server import close_all as close_clients

HEARD_DB = -30.0
GAP_DB = 30.0


@pytest.fixture
async def server() -> AsyncIterator[RunningServer]:
    async with running_server(media=True) as srv:
        yield srv


async def chatroom(
    server: RunningServer, seated: Sequence[str], audience: Sequence[str] = ()
) -> tuple[str, dict[str, WireClient]]:
    """A chatroom (free seats) hosted by "host", ``seated`` on seats 0.., ``audience`` in."""
    host = await server.client("host")
    reply = await host.call("create_room", title="tones", seat_mode="free")
    rid = reply["room"]["id"]
    clients = {"host": host}
    await host.call("open_chatroom", room=rid)
    for index, user in enumerate(seated):
        clients[user] = await server.client(user)
        await clients[user].call("join_room", room=rid)
        await clients[user].call("take_seat", room=rid, seat=index)
    for user in audience:
        clients[user] = await server.client(user)
        await clients[user].call("join_room", room=rid)
    return rid, clients


async def offer(client: WireClient, rid: str, peer: ClientMedia) -> ClientMedia:
    async def send(sdp: str) -> str:
        reply = await client.call("webrtc_offer", room=rid, sdp=sdp)
        return str(reply["sdp"])

    return await connect(peer, send)


def session(server: RunningServer, rid: str) -> RoomMixSession:
    s = server.media.session(rid)
    assert s is not None
    return s


async def test_who_hears_whom_through_the_server(server: RunningServer) -> None:
    rid, clients = await chatroom(server, seated=["a", "b", "m"], audience=["aud", "lis"])
    tones = {"host": 300.0, "a": 500.0, "b": 700.0, "m": 900.0, "aud": 1100.0}
    peers = {u: tone_peer(f) for u, f in tones.items()}
    peers["lis"] = tone_peer(None)
    try:
        await clients["host"].call("mute_seat", room=rid, seat=2)  # m: muted by the host
        for user, peer in peers.items():
            await offer(clients[user], rid, peer)
        await wait_recorded(peers.values(), 1.5)
        speakers = {"host": 300.0, "a": 500.0, "b": 700.0}
        silenced = [900.0, 1100.0]  # host-muted seat, audience member
        heard = levels_db(peers["lis"], tones.values())
        assert min(heard[f] for f in speakers.values()) > HEARD_DB, heard
        assert max(heard[f] for f in silenced) < min(heard[f] for f in speakers.values()) - GAP_DB
        for user, own in speakers.items():
            got = levels_db(peers[user], tones.values())
            others = [got[f] for u, f in speakers.items() if u != user]
            assert min(others) > HEARD_DB, (user, got)
            assert got[own] < min(others) - GAP_DB, (user, got)
            assert max(got[f] for f in silenced) < min(others) - GAP_DB, (user, got)
        stats = session(server, rid).stats
        assert stats.encodes_last_tick == stats.talkers_last_tick + 1 == 4
        # b mutes themself: from then on b is not heard, and no longer needs an encode.
        await clients["b"].call("mute", room=rid)
        await asyncio.sleep(0.2)
        await wait_recorded([peers["lis"]], 1.0)
        got = levels_db(peers["lis"], [300.0, 500.0, 700.0])
        assert got[700.0] < min(got[300.0], got[500.0]) - GAP_DB, got
        # The members were told who speaks.
        events = [r.message for r in clients["lis"].log if r.message.get("type") == "speaking"]
        spoken = {u for e in events for u, v in e["levels"].items() if v > 0}
        assert spoken == {"host", "a", "b"}
    finally:
        await close_all(peers.values())
        await close_clients(list(clients.values()))


async def test_nine_loud_speakers_are_limited_not_wrapped(server: RunningServer) -> None:
    seated = [f"s{i}" for i in range(8)]
    rid, clients = await chatroom(server, seated=seated, audience=["lis"])
    # Nine near-full-scale tones: their plain sum would exceed int16 about nine times over.
    tones = {user: 300.0 + 200.0 * i for i, user in enumerate(["host", *seated])}
    peers = {u: tone_peer(f, receive=False, amplitude=0.9) for u, f in tones.items()}
    peers["lis"] = tone_peer(None)
    try:
        for user, peer in peers.items():
            await offer(clients[user], rid, peer)
        await wait_recorded([peers["lis"]], 1.5)
        pcm = peers["lis"].samples(1.0).astype(np.float64)
        got = levels_db(peers["lis"], tones.values())
        assert min(got.values()) > -40, got  # every speaker is in the mix
        # Limited: loud, but the tones carry the energy. Wrapped-around sums would spread
        # it into broadband noise.
        total_db = 10 * np.log10(np.mean((pcm / 32768) ** 2) * 2)
        assert total_db > -12, total_db
        tone_energy = sum(10 ** (v / 10) for v in got.values())
        # (hard clipping instead of limiting reads about 0.79 here, wrapping about 0.2)
        assert tone_energy / 10 ** (total_db / 10) > 0.9, (tone_energy, total_db)
        assert np.abs(pcm).max() <= 32767
    finally:
        await close_all(peers.values())
        await close_clients(list(clients.values()))


async def test_lossy_and_vanishing_speakers_do_not_stall_the_room(server: RunningServer) -> None:
    rid, clients = await chatroom(server, seated=["lossy", "gone"], audience=["lis"])
    peers = {
        "host": tone_peer(300.0, receive=False),
        "lossy": lossy(tone_peer(500.0, receive=False), 0.05, seed=3),
        "gone": tone_peer(700.0, receive=False),
        "lis": tone_peer(None),
    }
    try:
        for user, peer in peers.items():
            await offer(clients[user], rid, peer)
        await wait_recorded([peers["lis"]], 1.0)
        s = session(server, rid)
        assert levels_db(peers["lis"], [700.0])[700.0] > HEARD_DB
        # "gone" vanishes mid-stream: its network drops without a word to the server.
        await peers["gone"].transceiver.sender.transport.transport.stop()
        ticks0, frames0 = s.stats.ticks, peers["lis"].recorder.frames
        lossy_in, clean_in = s.inputs["lossy"], s.inputs["host"]
        lossy_depth, clean_depth = [], []
        for _ in range(20):
            await asyncio.sleep(0.1)
            lossy_depth.append(lossy_in.jitter.latency())
            clean_depth.append(clean_in.jitter.latency())
        got = levels_db(peers["lis"], [300.0, 500.0, 700.0], seconds=1.5)
        assert got[300.0] > HEARD_DB and got[500.0] > HEARD_DB, got
        assert got[700.0] < got[300.0] - GAP_DB, got
        assert lossy_in.jitter.stats.lost > 0
        # Loss adds no delay: the lossy speaker's buffer holds about what the clean one's does.
        assert median(lossy_depth) <= median(clean_depth) + 2, (lossy_depth, clean_depth)
        # The clock never waited: the listener got a packet for (nearly) every tick.
        assert peers["lis"].recorder.frames - frames0 >= 0.8 * (s.stats.ticks - ticks0)
        assert s.stats.tick_errors == 0
    finally:
        await close_all(peers.values())
        await close_clients(list(clients.values()))


async def test_leaving_kicking_and_closing_release_the_media(server: RunningServer) -> None:
    rid, clients = await chatroom(server, seated=["a"], audience=["lis", "bad"])
    peers = {"host": tone_peer(300.0), "a": tone_peer(500.0), "lis": tone_peer(None),
             "bad": tone_peer(None)}
    try:
        for user, peer in peers.items():
            await offer(clients[user], rid, peer)
        media = server.media.rooms[rid]
        assert set(media.peers) == {"host", "a", "lis", "bad"}
        await clients["lis"].call("leave_room", room=rid)
        await clients["host"].call("kick_member", room=rid, user="bad")
        await clients["a"].call("leave_seat", room=rid)  # still a member: still connected
        await wait_for(lambda: set(media.peers) == {"host", "a"}, 5.0)
        s = session(server, rid)
        assert "a" not in s.heard and "host" in s.heard
        # A non-member's offer is refused by the protocol.
        stranger = await server.client("stranger")
        peers["stranger"] = outsider = tone_peer(None)
        reply = await stranger.request("webrtc_offer", room=rid, sdp=await outsider.offer())
        assert reply["type"] == "error" and reply["code"] == "not_in_room"
        await stranger.close()
        await clients["host"].call("close_room", room=rid)
        await wait_for(lambda: rid not in server.media.rooms, 5.0)
        assert not s.running
    finally:
        await close_all(peers.values())
        await close_clients(list(clients.values()))
