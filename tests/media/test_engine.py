"""MediaEngine with real rooms (rooms.machine) and real aiortc peers on loopback.

Each speaker plays its own tone; what every peer receives is checked by FFT.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from statistics import median

import pytest

from bench.media_server import TrackSession
from media.answer import announce_host_candidates
from media.engine import MediaEngine
from media.session import RoomMixSession
from media.tracks import PacketTrack
from protocol.errors import ErrorCode, ProtocolError
from protocol.schema import (
    CreateRoom,
    JoinRoom,
    MuteSeat,
    OpenChatroom,
    SeatMode,
    TakeSeat,
    Unmute,
    UnmuteSeat,
)
from protocol.schema import Mute as SelfMute
from rooms.machine import Actor, apply, create_room
from rooms.model import Room
from tests.support.rtc import (
    ClientMedia,
    close_all,
    connect,
    levels_db,
    lossy,
    silent_peer,
    tone_peer,
    wait_for,
    wait_recorded,
)

ROOM = "r1"
HEARD_DB = -30.0  # a 0.3-amplitude tone reads about -10.5 dB
GAP_DB = 30.0  # what must not be heard sits at least this far below what must


def actor(user: str) -> Actor:
    return Actor(user, user.title())


def build_room(
    host: str = "host", seated: Iterable[str] = (), audience: Iterable[str] = ()
) -> Room:
    """A chatroom in free seat mode: ``seated`` on seats 0.., ``audience`` joined."""
    seated, audience = list(seated), list(audience)
    outcome = create_room(ROOM, actor(host), CreateRoom("media", seat_mode=SeatMode.FREE), 0.0)
    room = outcome.room
    assert room is not None
    for user in seated + audience:
        room = step(room, user, JoinRoom(ROOM))
    room = step(room, host, OpenChatroom(ROOM))
    for index, user in enumerate(seated):
        room = step(room, user, TakeSeat(ROOM, index))
    return room


def step(room: Room, user: str, command: object) -> Room:
    new = apply(room, actor(user), command, 1.0).room
    assert new is not None
    return new


async def join(engine: MediaEngine, room: Room, user: str, peer: ClientMedia) -> ClientMedia:
    await connect(peer, lambda sdp: engine.offer(room, user, sdp))
    await media_running(engine)
    return peer


async def media_running(engine: MediaEngine) -> None:
    """The room's clock runs once the server's side of a peer is connected, which may come
    a moment after the client's side says so."""
    await wait_for(lambda: session(engine).running)


def session(engine: MediaEngine) -> RoomMixSession:
    s = engine.session(ROOM)
    assert s is not None
    return s


@pytest.fixture
async def engine():
    levels: list[tuple[str, dict[str, float]]] = []
    eng = MediaEngine(on_levels=lambda room_id, lv: levels.append((room_id, lv)))
    eng.levels_seen = levels  # type: ignore[attr-defined]
    yield eng
    await eng.close()


async def test_everyone_hears_the_others_and_never_themselves(engine: MediaEngine) -> None:
    room = build_room("host", seated=["a", "b"], audience=["lis"])
    tones = {"host": 300.0, "a": 500.0, "b": 700.0}
    peers = {user: tone_peer(freq) for user, freq in tones.items()}
    peers["lis"] = tone_peer(None)
    try:
        for user, peer in peers.items():
            await join(engine, room, user, peer)
        await wait_recorded(peers.values(), 1.5)
        freqs = list(tones.values())
        heard = levels_db(peers["lis"], freqs)
        assert all(heard[f] > HEARD_DB for f in freqs), heard
        for user, own in tones.items():
            got = levels_db(peers[user], freqs)
            others = [got[f] for u, f in tones.items() if u != user]
            assert min(others) > HEARD_DB, (user, got)
            assert got[own] < min(others) - GAP_DB, (user, got)
        stats = session(engine).stats
        # Three talkers with their own mix-minus, plus the one shared full mix.
        assert stats.talkers_last_tick == 3
        assert stats.encodes_last_tick == stats.talkers_last_tick + 1
        assert stats.packets_sent > 0 and stats.tick_errors == 0
        # aiortc's own receive path saw nothing: no decoded frame waits in a track's queue.
        for member in engine.rooms[ROOM].peers.values():
            track = member.peer.transceiver.receiver.track
            assert track is None or track._queue.qsize() == 0  # type: ignore[attr-defined]
        # Levels went to the gateway: every talker was reported speaking.
        spoken = {u for _, lv in engine.levels_seen for u, v in lv.items() if v > 0}  # type: ignore[attr-defined]
        assert spoken == set(tones)
    finally:
        await close_all(peers.values())


async def test_muted_and_audience_audio_is_not_mixed(engine: MediaEngine) -> None:
    room = build_room("host", seated=["m", "s", "ok"], audience=["aud", "lis"])
    room = step(room, "host", MuteSeat(ROOM, 0))  # host mutes m's seat
    room = step(room, "s", SelfMute(ROOM))  # s mutes themself
    tones = {"host": 300.0, "m": 500.0, "s": 700.0, "ok": 900.0, "aud": 1100.0}
    peers = {u: tone_peer(f, receive=(u == "host")) for u, f in tones.items()}
    peers["lis"] = tone_peer(None)
    try:
        for user, peer in peers.items():
            await join(engine, room, user, peer)
        await wait_recorded([peers["lis"]], 1.5)
        got = levels_db(peers["lis"], [*tones.values(), 1300.0, 1500.0])
        assert got[300.0] > HEARD_DB and got[900.0] > HEARD_DB, got
        loudest_silenced = max(got[500.0], got[700.0], got[1100.0])
        assert loudest_silenced < min(got[300.0], got[900.0]) - GAP_DB, got
        assert session(engine).stats.rtp_dropped_unheard > 0
        # Unmuting is followed at once.
        room = step(room, "host", UnmuteSeat(ROOM, 0))
        room = step(room, "s", Unmute(ROOM))
        engine.room_changed(room)
        await asyncio.sleep(0.3)
        await wait_recorded([peers["lis"]], 1.0)
        got = levels_db(peers["lis"], tones.values())
        assert got[500.0] > HEARD_DB and got[700.0] > HEARD_DB, got
        assert got[1100.0] < got[500.0] - GAP_DB, got
    finally:
        await close_all(peers.values())


async def test_silent_speaker_is_no_talker_and_shares_the_full_mix(engine: MediaEngine) -> None:
    room = build_room("host", seated=["quiet", "idle"], audience=["lis"])
    # "quiet" sends digital silence (its packets say so in their RFC 6464 level), "idle"
    # sends nothing: both are speakers who are not talking and get the shared packet.
    peers = {
        "host": tone_peer(400.0),
        "quiet": silent_peer(),
        "idle": ClientMedia(None, receive=True),
        "lis": tone_peer(None),
    }
    try:
        for user, peer in peers.items():
            await join(engine, room, user, peer)
        await wait_recorded(peers.values(), 1.0)
        stats = session(engine).stats
        assert stats.talkers_last_tick == 1
        assert stats.encodes_last_tick == 2
        # Silence is recognised from the packets' level and never decoded.
        assert stats.silent_skipped > 25 and stats.decoded > 25
        for user in ("quiet", "idle", "lis"):
            assert levels_db(peers[user], [400.0])[400.0] > HEARD_DB
        assert levels_db(peers["host"], [400.0])[400.0] < -60
    finally:
        await close_all(peers.values())


async def test_reoffer_replaces_the_connection_and_follows_the_seat(engine: MediaEngine) -> None:
    room = build_room("host", audience=["guest"])
    host = await join(engine, room, "host", tone_peer(300.0))
    listening = await join(engine, room, "guest", tone_peer(None))
    first_pc = engine.rooms[ROOM].peers["guest"].pc
    try:
        await wait_recorded([listening], 0.5)
        assert levels_db(listening, [300.0])[300.0] > HEARD_DB
        room = step(room, "guest", TakeSeat(ROOM, 0))
        engine.room_changed(room)
        speaking = await join(engine, room, "guest", tone_peer(800.0))
        assert engine.rooms[ROOM].peers["guest"].pc is not first_pc
        await wait_for(lambda: first_pc.connectionState == "closed", 5.0)
        await wait_recorded([host, speaking], 1.0)
        assert levels_db(host, [800.0])[800.0] > HEARD_DB
        got = levels_db(speaking, [300.0, 800.0])
        assert got[300.0] > HEARD_DB and got[800.0] < got[300.0] - GAP_DB, got
    finally:
        await close_all([host, listening])
        await close_all([p for p in [locals().get("speaking")] if p is not None])


async def test_lossy_speaker_does_not_stall_or_delay_the_room(engine: MediaEngine) -> None:
    room = build_room("host", seated=["bad"], audience=["lis"])
    peers = {
        "host": tone_peer(300.0, receive=False),
        "bad": lossy(tone_peer(600.0, receive=False), 0.05, seed=7),
        "lis": tone_peer(None),
    }
    try:
        for user, peer in peers.items():
            await join(engine, room, user, peer)
        s = session(engine)
        await wait_recorded([peers["lis"]], 0.5)
        bad, clean = s.inputs["bad"], s.inputs["host"]
        start_frames = peers["lis"].recorder.frames
        ticks0 = s.stats.ticks
        lossy_depth, clean_depth = [], []
        for _ in range(25):
            await asyncio.sleep(0.1)
            lossy_depth.append(bad.jitter.latency())
            clean_depth.append(clean.jitter.latency())
        got = levels_db(peers["lis"], [300.0, 600.0], seconds=2.0)
        assert got[300.0] > HEARD_DB and got[600.0] > HEARD_DB, got
        assert peers["bad"].rtp_dropped > 0
        assert bad.jitter.stats.lost > 0  # the holes were filled (FEC or PLC), not waited for
        # The room clock kept going and the listener kept receiving at the same pace.
        ticks = s.stats.ticks - ticks0
        frames = peers["lis"].recorder.frames - start_frames
        assert frames >= 0.8 * ticks
        # Loss does not add delay: the lossy speaker's buffer holds about what the clean
        # one's does (both see the same scheduling noise of this shared machine).
        assert median(lossy_depth) <= median(clean_depth) + 2, (lossy_depth, clean_depth)
        # The server's RTCP receiver reports (kept by the fast inbound path) tell the lossy
        # speaker what it lost.
        report = await peers["bad"].transceiver.sender.getStats()
        remote = [r for r in report.values() if r.type == "remote-inbound-rtp"]
        assert remote and remote[0].packetsLost > 0, list(report.values())
    finally:
        await close_all(peers.values())


async def test_vanished_speaker_does_not_stall_the_room(engine: MediaEngine) -> None:
    room = build_room("host", seated=["gone"], audience=["lis"])
    peers = {
        "host": tone_peer(300.0, receive=False),
        "gone": tone_peer(700.0, receive=False),
        "lis": tone_peer(None),
    }
    try:
        for user, peer in peers.items():
            await join(engine, room, user, peer)
        await wait_recorded([peers["lis"]], 1.0)
        assert levels_db(peers["lis"], [700.0])[700.0] > HEARD_DB
        s = session(engine)
        # The speaker's network disappears without a word to the server.
        transport = peers["gone"].transceiver.sender.transport.transport
        await transport.stop()
        ticks0, frames0 = s.stats.ticks, peers["lis"].recorder.frames
        await wait_recorded([peers["lis"]], 1.5)
        got = levels_db(peers["lis"], [300.0, 700.0])
        assert got[300.0] > HEARD_DB
        assert got[700.0] < got[300.0] - GAP_DB, got
        assert peers["lis"].recorder.frames - frames0 >= 0.8 * (s.stats.ticks - ticks0)
        assert s.stats.tick_errors == 0
    finally:
        await close_all(peers.values())


async def test_session_lives_while_peers_do(engine: MediaEngine) -> None:
    room = build_room("host", audience=["lis"])
    host = await join(engine, room, "host", tone_peer(300.0))
    lis = await join(engine, room, "lis", tone_peer(None))
    try:
        s = session(engine)
        assert s.running
        await engine.drop_user(ROOM, "lis")
        assert "lis" not in engine.rooms[ROOM].peers
        # Not a member any more: a new offer is refused.
        stranger = tone_peer(None)
        with pytest.raises(ProtocolError) as err:
            await engine.offer(room, "nobody", await stranger.offer())
        assert err.value.code is ErrorCode.NOT_IN_ROOM
        await stranger.close()
        # Leaving the room (room_changed without them) drops the host's peer: session ends.
        room.members.pop("host")
        await engine.room_changed(room)
        assert ROOM not in engine.rooms
        assert not s.running
    finally:
        await close_all([host, lis])


async def test_a_room_change_while_the_first_offer_is_answered_keeps_its_media(
        engine: MediaEngine) -> None:
    # The room's first offer: its media exists but has no peer until the answer is ready. A
    # change of the room meanwhile (a member joins, another drops) must not stop that media.
    room = build_room("host", audience=["lis"])
    joined = step(room, "late", JoinRoom(ROOM))

    async def offer_during_a_change(sdp: str) -> str:
        answering = asyncio.ensure_future(engine.offer(room, "host", sdp))
        await asyncio.sleep(0)  # the offer now waits inside the answer (ICE gathering)
        assert ROOM in engine.rooms and not engine.rooms[ROOM].peers
        await engine.room_changed(joined)
        return await answering

    host = await connect(tone_peer(300.0), offer_during_a_change)
    try:
        assert "host" in engine.rooms[ROOM].peers
        await media_running(engine)
    finally:
        await close_all([host])


async def test_bad_offer_is_a_protocol_error(engine: MediaEngine) -> None:
    room = build_room("host")
    with pytest.raises(ProtocolError) as err:
        await engine.offer(room, "host", "v=0\r\nthis is not sdp\r\n")
    assert err.value.code is ErrorCode.BAD_REQUEST
    assert ROOM not in engine.rooms


def test_announce_address_rewrites_host_candidates_only() -> None:
    sdp = (
        "v=0\r\nc=IN IP4 10.0.0.5\r\n"
        "a=candidate:1 1 udp 2130706431 10.0.0.5 40000 typ host\r\n"
        "a=candidate:2 1 udp 1694498815 198.51.100.9 40000 typ srflx raddr 10.0.0.5 rport 40000\r\n"
    )
    out = announce_host_candidates(sdp, "203.0.113.7")
    assert "a=candidate:1 1 udp 2130706431 203.0.113.7 40000 typ host\r\n" in out
    assert "198.51.100.9 40000 typ srflx" in out
    assert "c=IN IP4 203.0.113.7\r\n" in out


async def test_track_send_mode_carries_the_same_mixes() -> None:
    """The comparison path (an av.Packet through each listener's RTCRtpSender)."""
    engine = MediaEngine(session_factory=TrackSession)
    room = build_room("host", seated=["a"], audience=["lis"])
    peers = {"host": tone_peer(300.0), "a": tone_peer(500.0), "lis": tone_peer(None)}
    try:
        for user, peer in peers.items():
            await join(engine, room, user, peer)
        await wait_recorded(peers.values(), 1.0)
        heard = levels_db(peers["lis"], [300.0, 500.0])
        assert min(heard.values()) > HEARD_DB, heard
        got = levels_db(peers["host"], [300.0, 500.0])
        assert got[500.0] > HEARD_DB and got[300.0] < got[500.0] - GAP_DB, got
        outputs = session(engine).outputs
        assert all(isinstance(o, PacketTrack) and o.sent > 0 for o in outputs.values())
    finally:
        await close_all(peers.values())
        await engine.close()
