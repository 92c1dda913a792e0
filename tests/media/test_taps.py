"""The session's tap: each tick's encoded mix and each heard speaker's payloads, to consumers
other than WebRTC listeners (HTTP listeners, recorders, relays). Real aiortc peers."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from audio.constants import FRAME_SAMPLES
from audio.opus import OpusDecoder
from audio.sources import tone_levels
from media.engine import MediaEngine
from protocol.errors import ProtocolError
from tests.media.test_engine import ROOM, build_room, join
from tests.support.rtc import close_all, tone_peer, wait_for

HEARD_DB = -30.0


@dataclass(eq=False)
class Collect:
    ticks: list[int] = field(default_factory=list)
    packets: list[bytes] = field(default_factory=list)
    arrived: dict[str, list[tuple[int, int, bytes]]] = field(default_factory=dict)
    ends: int = 0

    def mixed(self, tick: int, payload: bytes) -> None:
        self.ticks.append(tick)
        self.packets.append(payload)

    def received(self, user: str, tick: int, seq: int, payload: bytes) -> None:
        self.arrived.setdefault(user, []).append((tick, seq, payload))

    def ended(self) -> None:
        self.ends += 1


def decode(packets: list[bytes]) -> np.ndarray:
    decoder = OpusDecoder()
    return np.concatenate([decoder.decode(p) for p in packets]) if packets else np.zeros(0)


async def test_a_tap_alone_keeps_the_room_ticking_silence_until_removed() -> None:
    engine = MediaEngine()
    room = build_room("host")
    tap = Collect()
    try:
        engine.add_tap(room, tap)
        session = engine.session(ROOM)
        assert session is not None and session.running
        await wait_for(lambda: len(tap.packets) >= 10)
        # Every tick, in order, silent or not.
        assert tap.ticks == list(range(tap.ticks[0], tap.ticks[0] + len(tap.ticks)))
        pcm = decode(tap.packets)
        assert len(pcm) == len(tap.packets) * FRAME_SAMPLES
        assert int(np.abs(pcm).max()) < 50
        await engine.remove_tap(ROOM, tap)
        assert ROOM not in engine.rooms and not session.running
        assert tap.ends == 0  # removed, not ended
    finally:
        await engine.close()


async def test_a_tap_gets_the_mix_and_the_speakers_payloads_and_ends_with_the_room() -> None:
    engine = MediaEngine()
    room = build_room("host", seated=["a"])
    tap = Collect()
    peers = {"host": tone_peer(400.0, receive=False), "a": tone_peer(900.0, receive=False)}
    try:
        engine.add_tap(room, tap)
        for user, peer in peers.items():
            await join(engine, room, user, peer)
        await wait_for(lambda: min(len(tap.arrived.get(u, [])) for u in peers) >= 60)
        mark = len(tap.packets)
        await wait_for(lambda: len(tap.packets) >= mark + 50)
        heard = tone_levels(decode(tap.packets[mark:]), [400.0, 900.0])
        assert min(heard.values()) > HEARD_DB, heard
        # Each speaker's payloads as they arrived: their own tone only.
        for user, freq, other in (("host", 400.0, 900.0), ("a", 900.0, 400.0)):
            got = tap.arrived[user]
            seqs = [seq for _, seq, _ in got]
            assert len(set(seqs)) > 50
            ticks = [tick for tick, _, _ in got]
            assert ticks == sorted(ticks)
            own = tone_levels(decode([p for _, _, p in got[-50:]]), [freq, other])
            assert own[freq] > HEARD_DB and own[other] < own[freq] - 30, (user, own)
        # The room closes: its taps are told, its media stops although a tap was attached.
        await engine.close_room(ROOM)
        assert tap.ends == 1 and ROOM not in engine.rooms
    finally:
        await close_all(peers.values())
        await engine.close()


async def test_a_failing_tap_is_dropped_and_the_others_go_on() -> None:
    engine = MediaEngine()
    room = build_room("host")

    class Broken(Collect):
        def mixed(self, tick: int, payload: bytes) -> None:
            raise RuntimeError("broken consumer")

    broken, good = Broken(), Collect()
    try:
        engine.add_tap(room, broken)
        engine.add_tap(room, good)
        await wait_for(lambda: len(good.packets) >= 5)
        session = engine.session(ROOM)
        assert session is not None
        assert broken not in session.taps and good in session.taps
        assert broken.ends == 1 and session.stats.tick_errors == 0
    finally:
        await engine.close()
    assert good.ends == 1  # the node closing ends every tap


async def test_a_closed_engine_refuses_taps() -> None:
    engine = MediaEngine()
    await engine.close()
    try:
        engine.add_tap(build_room("host"), Collect())
    except ProtocolError:
        return
    raise AssertionError("a closed engine took a tap")
