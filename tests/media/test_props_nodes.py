"""Props across two nodes on one real Redis, with real aiortc peers: the room's media lives on
node A, a speaker connected through node B sets an effect and plays a sound there; node A's
mix applies the effect and plays the sound once for everyone, the player too."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.media.propskit import db, envelope, offer, runs, tone_file
from tests.support.redis import fresh_redis_url
from tests.support.rtc import close_all, levels_db, tone_peer, wait_for, wait_recorded
from tests.support.server import close_all as close_clients
from tests.support.server import running_server

HEARD_DB = -30.0
GAP_DB = 25.0


async def test_props_reach_the_media_owner_from_another_node(tmp_path: Path) -> None:
    tone_file(tmp_path / "beep.wav", 1200.0, 0.3)
    url = fresh_redis_url()
    async with running_server(redis=url, node_id="props-media-a", media=True,
                              sounds=tmp_path) as a, \
            running_server(redis=url, node_id="props-media-b", media=True,
                           sounds=tmp_path) as b:
        host = await a.client("host")
        rid = (await host.call("create_room", title="two nodes", seat_mode="free",
                               auto_chatroom_at=0))["room"]["id"]
        await host.call("mute", room=rid)
        lis = await a.client("lis")
        await lis.call("join_room", room=rid)
        sat = await b.client("sat")
        await sat.call("join_room", room=rid)
        await sat.call("take_seat", room=rid, seat=0)
        peers = {"lis": tone_peer(None), "sat": tone_peer(440.0)}
        try:
            await offer(lis, rid, peers["lis"])  # the first offer: node A owns the media
            await offer(sat, rid, peers["sat"])  # forwarded to A
            mix = a.media.session(rid)
            assert mix is not None and b.media.session(rid) is None
            await wait_recorded(peers.values(), 1.0)

            await sat.call("set_voice_effect", room=rid, effect="pitch_up")
            await wait_for(lambda: "sat" in mix.props.voices)
            await asyncio.sleep(0.3)
            await wait_recorded(peers.values(), 1.2)
            heard = levels_db(peers["lis"], [440.0, 660.0])
            assert heard[660.0] > HEARD_DB and heard[440.0] < heard[660.0] - GAP_DB, heard

            await sat.call("play_sound", room=rid, sound="beep")
            await wait_for(lambda: mix.props.sounds_played == 1)
            await wait_recorded(peers.values(), 1.5)
            for user, peer in peers.items():
                env = envelope(peer.samples(1.5), 1200.0, window=0.01)
                assert db(float(env.max())) > -20, user
                assert len(runs(env > 0.5 * float(env.max()))) == 1, user
            own = levels_db(peers["sat"], [440.0, 660.0], seconds=1.5)
            assert max(own.values()) < -60, own  # never their own voice
            # Played on the owner's own node: once too (its commit is not heard back from
            # Redis), and a sound from either node plays nowhere else.
            await host.call("play_sound", room=rid, sound="beep")
            await wait_for(lambda: mix.props.sounds_played == 2)
            await asyncio.sleep(0.5)
            assert mix.props.sounds_played == 2
        finally:
            await close_all(peers.values())
            await close_clients([host, lis, sat])
