"""listen.ogg on any node of a cluster: a node that does not own the room's media pulls the
owner's stream once and serves its own listeners from it; when the owner dies, the stream
goes on from the node that takes the room over. Server processes on one Redis, a speaker on
real WebRTC, the streams decoded by PyAV."""

from __future__ import annotations

from audio.sources import tone_levels
from tests.support.cluster import cluster_nodes
from tests.support.http_stream import check_stream, decode_ogg, open_stream, parse_pages
from tests.support.rtc import ClientMedia, close_all, connect, tone_peer
from tests.support.server import WireClient
from tests.support.server import close_all as close_clients

HEARD_DB = -30.0


async def offer(client: WireClient, room_id: str, peer: ClientMedia) -> ClientMedia:
    async def send(sdp: str) -> str:
        return str((await client.call("webrtc_offer", room=room_id, sdp=sdp))["sdp"])

    return await connect(peer, send)


async def test_any_node_serves_the_room_and_the_stream_outlives_its_owner(
        redis_url: str) -> None:
    async with cluster_nodes(redis_url, ["a", "b"], "--grace", "30") as (a, b):
        host = await a.client("host")
        peer = tone_peer(520.0, receive=False)
        try:
            rid = (await host.call("create_room", title="relay"))["room"]["id"]
            await offer(host, rid, peer)  # A owns the room's media
            path = f"/rooms/{rid}/listen.ogg"
            on_b = await open_stream(b.host, b.port, path)
            second_on_b = await open_stream(b.host, b.port, path)
            on_a = await open_stream(a.host, a.port, path)
            for stream in (on_b, second_on_b, on_a):
                assert stream.status == 200
                data = await stream.read_seconds(2.0)
                check_stream(data)
                heard = tone_levels(decode_ogg(data)[-24000:], [520.0])
                assert heard[520.0] > HEARD_DB, heard
            # B's two listeners are one listener of A's: B's streams carry A's packets.
            pages_a = parse_pages(bytes(on_a.body), partial=True)[2:]
            pages_b = parse_pages(bytes(on_b.body), partial=True)[-40:]
            assert b"\0".join(p.packets[0] for p in pages_b[:20]) in \
                b"\0".join(p.packets[0] for p in pages_a)
            await on_a.close()
            await second_on_b.close()

            marked = len(parse_pages(bytes(on_b.body), partial=True))
            a.proc.kill()  # the owner dies without a word
            await a.proc.wait()
            # B takes the room over once A's heartbeat lapses; its listener's stream goes on
            # (no end, no new header): the same Ogg stream, fed by B's own media now.
            data = await on_b.read_seconds((marked - 2) / 50 + 3.0)
            assert not on_b.ended
            check_stream(data)
            await on_b.close()
        finally:
            await close_all([peer])
            await close_clients([host])
