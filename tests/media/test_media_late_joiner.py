"""End to end: someone joining while the host talks is told so at once.

`speaking` reports changes only; a steady talker causes none, so the join itself must carry
the current levels. Real server, real aiortc peer playing a tone.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.support.rtc import close_all, connect, tone_peer, wait_for
from tests.support.server import RunningServer, WireClient, running_server
from tests.support.server import close_all as close_clients


@pytest.fixture
async def server() -> AsyncIterator[RunningServer]:
    async with running_server(media=True) as srv:
        yield srv


def speaking(client: WireClient) -> list[dict[str, Any]]:
    return [r.message for r in client.log if r.message.get("type") == "speaking"]


async def join_and_sync(client: WireClient, room: str) -> tuple[int, int]:
    """Join, then a chat: everything the join caused is in the log before the chat's reply.
    Returns the log positions of the two replies."""
    joined = await client.request("join_room", room=room)
    assert joined["type"] == "ok"
    synced = await client.request("chat", room=room, text="hi")
    assert synced["type"] == "ok"
    ids = [r.message.get("id") for r in client.log]
    return ids.index(joined["id"]), ids.index(synced["id"])


async def test_a_late_joiner_gets_the_current_speakers(server: RunningServer) -> None:
    host = await server.client("host")
    room = (await host.call("create_room", title="talk"))["room"]["id"]
    early = await server.client("early")
    await early.call("join_room", room=room)
    peer = tone_peer(440.0, receive=False)
    clients = [host, early]
    try:
        async def send(sdp: str) -> str:
            return str((await host.call("webrtc_offer", room=room, sdp=sdp))["sdp"])

        await connect(peer, send)
        await wait_for(lambda: any(e["levels"].get("host", 0) > 0 for e in speaking(early)))
        session = server.media.session(room)
        assert session is not None
        late = await server.client("late")
        clients.append(late)
        reply_at, synced_at = await join_and_sync(late, room)
        sent = [(i, r.message) for i, r in enumerate(late.log)
                if r.message.get("type") == "speaking"]
        assert sent, "the joiner was not told that the host speaks"
        at, event = sent[0]
        assert reply_at < at < synced_at  # after the join's reply, as one of its events
        assert event["room"] == room
        assert set(event["levels"]) == {"host"} and 0 < event["levels"]["host"] <= 1
    finally:
        await close_all([peer])
        await close_clients(clients)


async def test_no_speaking_event_on_joining_a_silent_room(server: RunningServer) -> None:
    host = await server.client("host")
    room = (await host.call("create_room", title="quiet"))["room"]["id"]
    await host.call("mute", room=room)
    peer = tone_peer(440.0, receive=False)
    clients = [host]
    try:
        async def send(sdp: str) -> str:
            return str((await host.call("webrtc_offer", room=room, sdp=sdp))["sdp"])

        await connect(peer, send)
        session = server.media.session(room)
        assert session is not None
        ticks = session.stats.ticks
        await wait_for(lambda: session.stats.ticks > ticks + 20)
        late = await server.client("late")
        clients.append(late)
        await join_and_sync(late, room)
        assert speaking(late) == []
    finally:
        await close_all([peer])
        await close_clients(clients)
