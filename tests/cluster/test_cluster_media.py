"""Media across server processes: one owner per room, offers forwarded to it, a survivor
taking the room over when the owner is killed. Real aiortc peers, real Opus."""

from __future__ import annotations

from tests.support.cluster import cluster_nodes
from tests.support.rtc import ClientMedia, close_all, connect, tone_peer
from tests.support.server import ServerProcess, WireClient, http_get
from tests.support.server import close_all as close_clients

EVENT_TIMEOUT = 20.0


async def offer(client: WireClient, room_id: str, peer: ClientMedia) -> ClientMedia:
    async def send(sdp: str) -> str:
        return str((await client.call("webrtc_offer", room=room_id, sdp=sdp))["sdp"])

    return await connect(peer, send)


async def media_peers(node: ServerProcess) -> float:
    """The node's `voiceroom_media_peers` gauge from /metrics: peer connections it serves."""
    _, _, body = await http_get(node.host, node.port, "/metrics")
    for line in body.decode().splitlines():
        if line.startswith("voiceroom_media_peers "):
            return float(line.split()[1])
    raise AssertionError("no voiceroom_media_peers in /metrics")


async def test_the_owner_killed_members_are_told_and_a_survivor_serves_the_room(
    redis_url: str,
) -> None:
    async with cluster_nodes(redis_url, ["a", "b"], "--grace", "30") as (a, b):
        host = await a.client("host")
        guest = await b.client("guest")
        peers = [tone_peer(440.0), tone_peer(None), tone_peer(440.0)]
        try:
            room_id = (await host.call("create_room", title="Media", auto_chatroom_at=0))[
                "room"]["id"]
            await guest.call("join_room", room=room_id)
            # The guest's offer reaches B first: B owns the room's media. The host's offer on A
            # is forwarded to B and answered there.
            await offer(guest, room_id, peers[1])
            await offer(host, room_id, peers[0])
            assert (await media_peers(a), await media_peers(b)) == (0, 2)
            host.drain()

            b.proc.kill()  # the owner dies without a word
            await b.proc.wait()

            # A notices (its heartbeat gone), clears B's lease and tells the members ...
            await host.event("room_state", timeout=EVENT_TIMEOUT)
            # ... who offer again: A takes the room and answers.
            await offer(host, room_id, peers[2])
            assert peers[2].pc.connectionState == "connected"
            assert await media_peers(a) == 1
        finally:
            await close_all(peers)
            await close_clients([host, guest])
