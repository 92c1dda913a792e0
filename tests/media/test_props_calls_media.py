"""Props in a call's media, with real aiortc parties through the whole server: a voice effect
heard by the other party and never by its speaker, a sound heard once by both, and a room's
music never reaching a call (docs/protocol.md "Props")."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.media.propskit import db, envelope, offer, runs, tone_file
from tests.server.callmedia import offer as offer_call
from tests.server.peoplekit import befriend, person
from tests.support.rtc import close_all, levels_db, tone_peer, wait_recorded
from tests.support.server import close_all as close_clients
from tests.support.server import running_server

HEARD_DB = -30.0
GAP_DB = 25.0


async def test_effects_sounds_and_no_music_in_a_call(tmp_path: Path) -> None:
    sounds, music = tmp_path / "sounds", tmp_path / "music"
    sounds.mkdir()
    music.mkdir()
    tone_file(sounds / "beep.wav", 1200.0, 0.3)
    tone_file(music / "hum.wav", 610.0, 2.0, fade=0.0)
    async with running_server(media=True, sounds=sounds, music=music) as srv:
        ann = await person(srv.url, "ann", name="Ann")
        bob = await person(srv.url, "bob", name="Bob")
        await befriend(ann, bob)
        # Ann is also in a room whose music plays: it must stay out of her call.
        rid = (await ann.call("create_room", title="music"))["room"]["id"]
        await ann.call("set_music_volume", room=rid, volume=1.0)
        await ann.call("play_music", room=rid, track="hum", loop=True)
        call = (await ann.call("call", user="bob"))["call"]["id"]
        await bob.call("answer_call", call=call)
        peers = {"ann": tone_peer(440.0), "bob": tone_peer(1000.0),
                 "ann_room": tone_peer(None)}
        try:
            await offer(ann, rid, peers["ann_room"])
            await offer_call(ann, call, peers["ann"])
            await offer_call(bob, call, peers["bob"])
            await wait_recorded(peers.values(), 1.0)
            assert levels_db(peers["ann_room"], [610.0])[610.0] > HEARD_DB  # music plays
            plain = levels_db(peers["bob"], [440.0, 660.0, 610.0])
            assert plain[440.0] > HEARD_DB and plain[660.0] < plain[440.0] - GAP_DB, plain

            await ann.call("set_voice_effect", call=call, effect="pitch_up")
            await asyncio.sleep(0.3)
            await wait_recorded(peers.values(), 1.2)
            bob_hears = levels_db(peers["bob"], [440.0, 660.0, 610.0])
            assert bob_hears[660.0] > HEARD_DB, bob_hears
            assert bob_hears[440.0] < bob_hears[660.0] - GAP_DB, bob_hears
            ann_hears = levels_db(peers["ann"], [440.0, 660.0, 1000.0])
            assert ann_hears[1000.0] > HEARD_DB, ann_hears
            assert max(ann_hears[440.0], ann_hears[660.0]) < ann_hears[1000.0] - GAP_DB
            assert srv.media.call_media(call).decoded("ann")

            await bob.call("play_sound", call=call, sound="beep")
            await wait_recorded([peers["ann"], peers["bob"]], 2.0)
            for user in ("ann", "bob"):
                env = envelope(peers[user].samples(2.0), 1200.0, window=0.01)
                top = float(env.max())
                assert db(top) > -20, (user, db(top))
                heard = runs(env > 0.5 * top)
                assert len(heard) == 1, (user, heard)  # once, whoever played it
                assert 0.25 <= (heard[0][1] - heard[0][0]) * 0.01 <= 0.35, (user, heard)
            # Never the room's music, in either party's call stream.
            for user in ("ann", "bob"):
                got = levels_db(peers[user], [610.0, 1000.0, 660.0], seconds=2.0)
                assert got[610.0] < -60, (user, got)

            await ann.call("set_voice_effect", call=call, effect="none")
            await asyncio.sleep(0.5)
            assert not srv.media.call_media(call).decoded("ann")  # back to forwarding
        finally:
            await close_all(peers.values())
            await close_clients([ann, bob])
