"""An answer cancelled mid-way (the server stops, the member goes) closes its connection."""

from __future__ import annotations

import asyncio

from aiortc import RTCPeerConnection

from media.answer import answer_offer
from media.tracks import PacketTrack
from tests.support.rtc import close_all, tone_peer


async def test_a_cancelled_answer_closes_its_peer_connection() -> None:
    client = tone_peer(440.0)
    offer = await client.offer()
    seen: list[RTCPeerConnection] = []
    task = asyncio.ensure_future(answer_offer(
        offer, outbound=PacketTrack, inbound=lambda *args: None, on_state=seen.append))
    await asyncio.sleep(0)  # under way: the remote description is being applied
    task.cancel()
    await asyncio.wait([task])
    assert task.cancelled()  # ICE gathering alone takes many loop turns
    await asyncio.sleep(0.1)
    assert seen, "the connection was never closed"
    assert all(pc.connectionState == "closed" for pc in seen)
    await close_all([client])
