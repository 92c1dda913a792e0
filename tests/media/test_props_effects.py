"""Voice effects through the whole server (docs/protocol.md "Props"): a speaker's tone sent by
a real aiortc peer is heard by the others through the effect, checked by FFT; the speaker
never hears their own voice, effect or not."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import numpy as np
import pytest

from audio.constants import SAMPLE_RATE
from tests.media.propskit import Bursts, db, envelope, offer, props_room, runs
from tests.support.rtc import ClientMedia, close_all, levels_db, tone_peer, wait_recorded
from tests.support.server import RunningServer, running_server
from tests.support.server import close_all as close_clients

HEARD_DB = -30.0
GAP_DB = 25.0


@pytest.fixture
async def server() -> AsyncIterator[RunningServer]:
    async with running_server(media=True) as srv:
        yield srv


async def fresh(peers: list[ClientMedia]) -> None:
    """Let what was mixed before the last change play out, then record anew."""
    await asyncio.sleep(0.3)
    await wait_recorded(peers, 1.2)


async def test_pitch_effects_are_heard_by_others_never_by_the_speaker(
        server: RunningServer) -> None:
    rid, clients = await props_room(server, seated=["sat"], audience=["lis"])
    peers = {"host": tone_peer(1000.0), "sat": tone_peer(440.0), "lis": tone_peer(None)}
    freqs = [440.0, 660.0, 293.33, 1000.0]
    try:
        for user, peer in peers.items():
            await offer(clients[user], rid, peer)
        await wait_recorded(peers.values(), 1.0)
        plain = levels_db(peers["lis"], freqs)
        assert plain[440.0] > HEARD_DB and plain[660.0] < plain[440.0] - GAP_DB, plain

        for effect, heard_at in (("pitch_up", 660.0), ("pitch_down", 293.33)):
            await clients["sat"].call("set_voice_effect", room=rid, effect=effect)
            await fresh(list(peers.values()))
            got = levels_db(peers["lis"], freqs)
            assert got[heard_at] > HEARD_DB, (effect, got)
            assert got[440.0] < got[heard_at] - GAP_DB, (effect, got)
            assert got[1000.0] > HEARD_DB, (effect, got)  # the host, as before
            # The host hears the effect too; the speaker hears the host and never themself.
            host = levels_db(peers["host"], freqs)
            assert host[heard_at] > HEARD_DB and host[440.0] < host[heard_at] - GAP_DB
            own = levels_db(peers["sat"], freqs)
            assert own[1000.0] > HEARD_DB, (effect, own)
            assert max(own[440.0], own[heard_at]) < own[1000.0] - GAP_DB, (effect, own)

        await clients["sat"].call("set_voice_effect", room=rid, effect="none")
        await fresh(list(peers.values()))
        back = levels_db(peers["lis"], freqs)
        assert back[440.0] > HEARD_DB and back[660.0] < back[440.0] - GAP_DB, back
        costs = server.media.session(rid).props.costs
        assert costs["pitch_up"].frames > 0 and costs["pitch_down"].frames > 0
    finally:
        await close_all(peers.values())
        await close_clients(list(clients.values()))


async def test_echo_repeats_the_voice_250_ms_later_6_db_down(server: RunningServer) -> None:
    rid, clients = await props_room(server, seated=["sat"], audience=["lis"])
    # 100 ms bursts of 500 Hz every 800 ms: each one's echo has room to be seen alone.
    peers = {"sat": ClientMedia(Bursts(500.0, 0.4, burst=0.1, period=0.8), receive=True),
             "lis": tone_peer(None)}
    try:
        await clients["host"].call("mute", room=rid)  # the host says nothing here
        await clients["sat"].call("set_voice_effect", room=rid, effect="echo")
        for user, peer in peers.items():
            await offer(clients[user], rid, peer)
        await wait_recorded(peers.values(), 3.5)
        env = envelope(peers["lis"].samples(3.2), 500.0, window=0.005)
        top = float(env.max())
        assert db(top) > -20, db(top)
        voices = [r for r in runs(env > 0.7 * top) if r[1] - r[0] >= 10]  # >= 50 ms
        assert len(voices) >= 3, voices
        delays, drops = [], []
        for start, _end in voices:
            after = env[start + 24 : start + 80]  # from 120 ms to 400 ms after the onset
            echo = runs(after > 0.3 * top)
            if not echo or start + 80 > len(env):
                continue
            onset = start + 24 + echo[0][0]
            delays.append((onset - start) * 0.005)
            drops.append(db(float(np.median(env[onset + 4 : onset + 16])))
                         - db(float(np.median(env[start + 4 : start + 16]))))
        assert len(delays) >= 2, (voices, delays)
        assert all(abs(d - 0.25) <= 0.012 for d in delays), delays
        assert all(abs(d + 6.0) <= 1.5 for d in drops), drops
        # The speaker hears neither their voice nor its echo.
        own = envelope(peers["sat"].samples(3.0), 500.0)
        assert db(float(own.max())) < db(top) - GAP_DB
        # A listener got about the length of the recording: nothing held up the room.
        assert peers["lis"].recorder.seconds >= 3.0
        assert SAMPLE_RATE == 48000
    finally:
        await close_all(peers.values())
        await close_clients(list(clients.values()))
