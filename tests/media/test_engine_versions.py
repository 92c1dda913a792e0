"""The engine follows the newest room state only: with several nodes, another node's older
batch can reach a node after its own newer commit (tests/cluster shows the race); an older
state must not take a member's connection away. Real aiortc peers."""

from __future__ import annotations

from media.engine import MediaEngine
from protocol.schema import JoinRoom, LeaveRoom
from tests.media.test_engine import ROOM, build_room, join, step
from tests.support.rtc import close_all, tone_peer


async def test_an_older_room_state_does_not_drop_a_newer_member() -> None:
    engine = MediaEngine()
    before = build_room("host")  # the state before the fan joined
    joined = step(before, "fan", JoinRoom(ROOM))
    assert joined.version > before.version
    peers = {"host": tone_peer(440.0), "fan": tone_peer(None)}
    try:
        await join(engine, joined, "host", peers["host"])
        await join(engine, joined, "fan", peers["fan"])
        media = engine.rooms[ROOM]
        await engine.room_changed(before)  # late: older than what the fan's offer carried
        assert set(media.peers) == {"host", "fan"}
        left = step(joined, "fan", LeaveRoom(ROOM))
        await engine.room_changed(left)  # newer: the fan left
        assert set(media.peers) == {"host"}
    finally:
        await close_all(peers.values())
        await engine.close()
