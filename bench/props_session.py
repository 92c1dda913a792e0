"""Voice effects in a running room: `python -m bench.props_session`.

A real server in this process (the app's own build, media on), one room, `--speakers` real
aiortc peers sending speech-like audio, each with an effect (cycling through pitch_up,
pitch_down, robot, echo) set by `set_voice_effect`, and one listener. After `--seconds`, the
room session's own accounting (media/props.py's PropsMix.costs: CPU time in each speaker's
effect, per 20 ms tick) is printed per effect, with the session's tick time: the cost per
effect-speaker per tick as the server pays it, next to bench.effects' figures for the bare
effects. The peers run in this process too: pin nothing, read the ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import math

import numpy as np
import numpy.typing as npt

from audio.constants import FRAME_SAMPLES
from bench.mixer_tick import speech_like
from client.connection import VoiceClient
from client.media import ClientMedia
from server.app import build
from server.settings import Settings

EFFECT_CYCLE = ("pitch_up", "pitch_down", "robot", "echo")


class Speech:
    """A microphone playing speech-like audio in a loop (a PcmSource)."""

    def __init__(self, pcm: npt.NDArray[np.int16]) -> None:
        self._pcm = pcm
        self._at = 0

    def read(self) -> npt.NDArray[np.int16]:
        if self._at + FRAME_SAMPLES > len(self._pcm):
            self._at = 0
        frame = self._pcm[self._at : self._at + FRAME_SAMPLES]
        self._at += FRAME_SAMPLES
        return frame


async def run(speakers: int, seconds: float) -> None:
    app = await build(Settings(host="127.0.0.1", port=0, media=True, node_id="bench-props"))
    await app.start()
    clients: list[VoiceClient] = []
    peers: list[ClientMedia] = []
    try:
        host = await VoiceClient.connect(app.url, user="host", reconnect=False)
        clients.append(host)
        rid = (await host.create_room("props bench", seat_mode="free", seats=8))["room"]["id"]
        await host.open_chatroom(rid)
        await host.mute(rid)  # the host listens; the seats speak

        async def joined(user: str, seat: int | None) -> VoiceClient:
            client = await VoiceClient.connect(app.url, user=user, reconnect=False)
            clients.append(client)
            await client.join_room(rid)
            if seat is not None:
                await client.take_seat(rid, seat)
            return client

        async def offered(client: VoiceClient, peer: ClientMedia) -> None:
            async def send(sdp: str) -> str:
                return str((await client.webrtc_offer(rid, sdp))["sdp"])

            await peer.connect(send)
            peers.append(peer)

        for i in range(speakers):
            client = await joined(f"s{i}", i)
            await client.set_voice_effect(EFFECT_CYCLE[i % len(EFFECT_CYCLE)], room=rid)
            await offered(client, ClientMedia(Speech(speech_like(5.0, seed=i)), receive=False))
        listener = ClientMedia(None, receive=True)
        await offered(await joined("listener", None), listener)
        for _ in range(200):  # until the listener hears the room (10 s at most)
            if listener.recorder.seconds >= 1.0:
                break
            await asyncio.sleep(0.05)
        assert app.media is not None
        session = app.media.session(rid)
        assert session is not None and session.props is not None
        session.props.costs.clear()
        ticks0, tick_s0 = session.stats.ticks, session.stats.tick_seconds_total
        await asyncio.sleep(seconds)
        ticks = session.stats.ticks - ticks0
        tick_us = 1e6 * (session.stats.tick_seconds_total - tick_s0) / max(1, ticks)
        print(f"{speakers} speakers with effects, 1 listener, {seconds:g} s, {ticks} ticks; "
              f"session tick {tick_us:.0f} us mean (all of it: decode, effects, mix, encode, "
              "send)")
        print(f"{'effect':<12}{'speakers':>9}{'frames':>8}{'us per frame':>14}")
        costs = session.props.costs
        for name in EFFECT_CYCLE:
            cost = costs.get(name)
            if cost is None:
                continue
            count = sum(1 for i in range(speakers) if EFFECT_CYCLE[i % 4] == name)
            print(f"{name:<12}{count:>9}{cost.frames:>8}{cost.per_frame_us:>14.1f}")
        per_tick = [c.seconds * 1e6 / max(1, ticks) for c in costs.values()]
        print(f"effects in all: {math.fsum(per_tick):.0f} us per tick")
    finally:
        await asyncio.gather(*(p.close() for p in peers), return_exceptions=True)
        await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)
        await app.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--speakers", type=int, default=4, help="seated speakers (1 to 8)")
    parser.add_argument("--seconds", type=float, default=10.0, help="measured time")
    args = parser.parse_args()
    if not 1 <= args.speakers <= 8:
        parser.error("--speakers: 1 to 8")
    asyncio.run(run(args.speakers, args.seconds))


if __name__ == "__main__":
    main()
