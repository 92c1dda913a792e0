"""Sounds and music through the whole server (docs/protocol.md "Props"), heard by real aiortc
peers: a sound once by everyone, the player too; music looping, ducked 10 dB while someone
speaks (its clicks are checked sample by sample in test_props_session.py); a track that runs
out or whose file goes away stops with `music_state`, and the room goes on."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest

from audio.constants import SAMPLE_RATE
from tests.media.propskit import (
    GatedTone,
    db,
    envelope,
    offer,
    props_room,
    runs,
    tone_file,
)
from tests.support.rtc import ClientMedia, close_all, levels_db, tone_peer, wait_recorded
from tests.support.server import RunningServer, running_server
from tests.support.server import close_all as close_clients

HEARD_DB = -30.0
GAP_DB = 25.0
MUSIC_HZ = 610.0  # 12.2 cycles a frame: a gain change at a frame edge meets the wave anywhere
VOICE_HZ = 200.0  # four whole cycles a frame: the gated voice never steps


@pytest.fixture
def folders(tmp_path: Path) -> tuple[Path, Path]:
    sounds, music = tmp_path / "sounds", tmp_path / "music"
    sounds.mkdir()
    music.mkdir()
    tone_file(sounds / "beep.wav", 1200.0, 0.3)
    (sounds / "broken.mp3").write_bytes(b"ID3 this is not an mp3 at all")
    tone_file(music / "hum.wav", MUSIC_HZ, 2.0, fade=0.0)  # 1,200 whole cycles: loops clean
    tone_file(music / "short.wav", 800.0, 0.4)
    tone_file(music / "doomed.wav", 900.0, 2.0, fade=0.0)
    return sounds, music


@pytest.fixture
async def server(folders: tuple[Path, Path]) -> AsyncIterator[RunningServer]:
    async with running_server(media=True, sounds=folders[0], music=folders[1]) as srv:
        yield srv


async def test_a_sound_is_heard_once_by_everyone_the_player_too(server: RunningServer) -> None:
    rid, clients = await props_room(server, seated=["sat"], audience=["lis"])
    assert [s["id"] for s in (await clients["lis"].call("list_sounds"))["sounds"]] == ["beep"]
    # The player is talking (so hears a mix-minus of their own) when they play it.
    peers = {"sat": tone_peer(300.0), "lis": tone_peer(None)}
    try:
        for user, peer in peers.items():
            await offer(clients[user], rid, peer)
        await wait_recorded(peers.values(), 0.5)
        await clients["sat"].call("play_sound", room=rid, sound="beep")
        await wait_recorded(peers.values(), 2.0)
        for user, peer in peers.items():
            env = envelope(peer.samples(2.0), 1200.0, window=0.01)
            top = float(env.max())
            assert db(top) > -20, (user, db(top))
            heard = runs(env > 0.5 * top)
            assert len(heard) == 1, (user, heard)  # once
            start, end = heard[0]
            assert 0.25 <= (end - start) * 0.01 <= 0.35, (user, heard)  # the whole 0.3 s
        own = levels_db(peers["sat"], [300.0], seconds=2.0)[300.0]
        assert own < -60, own  # and still not their own voice
    finally:
        await close_all(peers.values())
        await close_clients(list(clients.values()))


async def test_music_loops_and_ducks_10_db_while_someone_speaks(server: RunningServer) -> None:
    rid, clients = await props_room(server, seated=["sat"], audience=["lis"])
    voice = GatedTone(VOICE_HZ, 0.3)
    peers = {"sat": ClientMedia(voice, receive=True), "lis": tone_peer(None)}
    host = clients["host"]
    try:
        await host.call("mute", room=rid)
        for user, peer in peers.items():
            await offer(clients[user], rid, peer)
        await host.call("set_music_volume", room=rid, volume=1.0)
        await host.call("play_music", room=rid, track="hum", loop=True)
        await wait_recorded(peers.values(), 3.0)  # longer than the 2 s track
        start = peers["lis"].recorder.seconds
        # No gap at the loop: every 100 ms of the last 2.5 s (longer than the track) holds the
        # music (3 dB: one late packet on a busy machine may cost a window 2 dB; a gap more).
        free = envelope(peers["lis"].samples(2.5), MUSIC_HZ, window=0.1)
        assert db(float(free.min())) > db(float(free.max())) - 3.0, free
        voice.on = True
        await wait_recorded(peers.values(), 2.0)
        voice.on = False
        await wait_recorded(peers.values(), 2.5)
        pcm = peers["lis"].samples(peers["lis"].recorder.seconds - start + 2.5)
        # Where the voice is in the recording (it travels with some delay).
        spoken = runs(envelope(pcm, VOICE_HZ, window=0.01) > 10 ** (-30 / 20))
        first, last = max(spoken, key=lambda r: r[1] - r[0])
        assert 1.8 <= (last - first) / 100 <= 2.2, spoken  # the voice, not a blip
        on, off = first * SAMPLE_RATE // 100, last * SAMPLE_RATE // 100
        second = SAMPLE_RATE
        level = {name: levels_db_pcm(part) for name, part in (
            ("before", pcm[on - 2 * second: on - second // 2]),
            ("during", pcm[on + second // 2: off - second // 2]),
            # after the hold (0.3 s) and the release (0.15 s time constant)
            ("after", pcm[off + second: off + 2 * second]))}
        assert level["during"]["voice"] > HEARD_DB, level
        drop = level["before"]["music"] - level["during"]["music"]
        assert abs(drop - 10.0) <= 1.5, level
        assert abs(level["after"]["music"] - level["before"]["music"]) <= 1.0, level
        # (Clicks at the ramps are checked sample by sample, without the network's
        # timing, in test_props_session.py.)
        # The talker hears the music (ducked) in their own mix, never their voice.
        own = levels_db(peers["sat"], [MUSIC_HZ, VOICE_HZ], seconds=2.0)
        assert own[MUSIC_HZ] > HEARD_DB and own[VOICE_HZ] < own[MUSIC_HZ] - GAP_DB, own
    finally:
        await close_all(peers.values())
        await close_clients(list(clients.values()))


def levels_db_pcm(pcm: np.ndarray) -> dict[str, float]:
    from audio.sources import tone_levels

    got = tone_levels(pcm, [MUSIC_HZ, VOICE_HZ])
    return {"music": got[MUSIC_HZ], "voice": got[VOICE_HZ]}


async def test_music_that_runs_out_or_loses_its_file_stops(server: RunningServer,
                                                          folders: tuple[Path, Path]) -> None:
    rid, clients = await props_room(server, seated=[], audience=["lis"])
    host, lis = clients["host"], clients["lis"]
    peers = {"lis": tone_peer(None)}
    try:
        await offer(lis, rid, peers["lis"])
        await host.call("play_music", room=rid, track="short")  # 0.4 s, no loop
        assert (await lis.event("music_state", playing=True))["track"] == "short"
        ended = await lis.event("music_state", playing=False, timeout=5)
        assert ended["track"] is None

        await host.call("play_music", room=rid, track="doomed", loop=True)
        await lis.event("music_state", playing=True)
        await wait_recorded(peers.values(), 1.0)
        assert levels_db(peers["lis"], [900.0], seconds=0.5)[900.0] > HEARD_DB
        (folders[1] / "doomed.wav").unlink()
        stopped = await lis.event("music_state", playing=False, timeout=5)
        assert stopped["track"] is None
        await asyncio.sleep(0.3)
        await wait_recorded(peers.values(), 1.0)
        assert levels_db(peers["lis"], [900.0], seconds=0.8)[900.0] < -60
        # The room goes on: another track, a roll of the dice.
        await host.call("play_music", room=rid, track="hum", loop=True)
        await lis.event("music_state", playing=True)
        assert (await lis.call("roll_dice", room=rid))["values"]
        state = (await lis.call("join_room", room=rid))["room"]
        assert state["music"]["track"] == "hum"
    finally:
        await close_all(peers.values())
        await close_clients(list(clients.values()))
