"""Recording with two server processes on one Redis: the host, connected to B, records a
room whose media A mixes; members on both nodes are told; A writes the files into the shared
folder, B's reply names them. Real WebRTC tones, files decoded by PyAV."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from audio.sources import tone_levels
from tests.support.cluster import cluster_nodes
from tests.support.http_stream import decode_ogg, get
from tests.support.rtc import ClientMedia, close_all, connect, tone_peer
from tests.support.server import WireClient
from tests.support.server import close_all as close_clients

HEARD_DB = -30.0


async def offer(client: WireClient, room_id: str, peer: ClientMedia) -> ClientMedia:
    async def send(sdp: str) -> str:
        return str((await client.call("webrtc_offer", room=room_id, sdp=sdp))["sdp"])

    return await connect(peer, send)


async def test_the_node_that_mixes_records_what_any_node_asks(redis_url: str,
                                                              tmp_path: Path) -> None:
    async with cluster_nodes(redis_url, ["a", "b"], "--recordings", str(tmp_path)) as (a, b):
        host = await b.client("host")
        guest = await a.client("guest")
        watcher = await a.client("watcher")
        peers: list[ClientMedia] = []
        try:
            rid = (await host.call("create_room", title="tape", seat_mode="free"))["room"]["id"]
            await host.call("open_chatroom", room=rid)
            await guest.call("join_room", room=rid)
            await guest.call("take_seat", room=rid, seat=0)
            await watcher.call("join_room", room=rid)
            peers.append(await offer(guest, rid, tone_peer(650.0, receive=False)))  # A owns
            peers.append(await offer(host, rid, tone_peer(350.0, receive=False)))
            watcher.drain()
            rec_id = (await host.call("start_recording", room=rid))["recording"]["id"]
            changed = await watcher.event("recording_changed", timeout=10.0)
            assert changed["active"] is True and changed["by"] == "host"
            await asyncio.sleep(2.5)
            stopped = (await host.call("stop_recording", room=rid))["recording"]
            changed = await watcher.event("recording_changed", timeout=10.0)
            assert changed["active"] is False
        finally:
            await close_all(peers)
        assert {f"{rec_id}.ogg", f"{rec_id}.json"} <= set(stopped["files"])
        await asyncio.sleep(1.5)  # A finishes the files (B answered from the shared folder)
        mix = decode_ogg((tmp_path / f"{rec_id}.ogg").read_bytes())
        heard = tone_levels(mix[-48000:], [350.0, 650.0])
        assert min(heard.values()) > HEARD_DB, heard
        stem = decode_ogg((tmp_path / f"{rec_id}.guest.ogg").read_bytes())
        own = tone_levels(stem[-48000:], [350.0, 650.0])
        assert own[650.0] > HEARD_DB and own[350.0] < own[650.0] - 30, own
        timeline = json.loads((tmp_path / f"{rec_id}.json").read_text())
        assert timeline["finished"] is True and set(timeline["files"]["stems"]) == {"host",
                                                                                    "guest"}
        # Either node serves the download from the shared folder.
        for node in (a, b):
            status, _, body = await get(node.host, node.port,
                                        f"/recordings/{rec_id}.json?user=host")
            assert status == 200 and json.loads(body)["id"] == rec_id
        await close_clients([host, guest, watcher])
