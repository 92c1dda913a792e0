"""Call parties for bench/calls_media.py (run in their own process): N calls, two aiortc peer
connections each, offered through bench/calls_media_server.py's websocket.

    python -m bench.calls_media_peers --url ws://127.0.0.1:PORT/ws --calls 50 [--prefix p]

Light clients, as bench/media_peers.py's: each party sends pre-encoded Opus (a tone: the
caller 440 Hz, the callee 660 Hz) with an RFC 6464 level, like a browser, through a
DirectSender from one shared 20 ms clock; what comes back is counted
(media.inbound.fast_receive), not decoded. Prints `ready {json}` once every peer is
connected, `stats {json}` on each `stats` line read from stdin and at exit; `pause` and
`resume` lines stop and restart the sending (connections stay up).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
import time
from dataclasses import dataclass
from typing import Any

from aiortc import RTCPeerConnection, RTCSessionDescription
from websockets.asyncio.client import connect

from audio.constants import FRAME_SAMPLES, FRAME_SECONDS
from bench.media_peers import LOOP_FRAMES, emit, encoded_loop
from media.answer import new_peer_connection, prefer_opus
from media.inbound import fast_receive, tap_receiver
from media.rtp import audio_level_extension, audio_level_extension_id, ntp_now
from media.sender import DirectSender
from media.tracks import IdleTrack

CALLER_HZ, CALLEE_HZ = 440.0, 660.0
BATCH = 10  # calls set up at a time: ICE gathering is slow-ish


@dataclass
class Party:
    user: str
    pc: RTCPeerConnection
    packets: list[bytes]
    sender: DirectSender | None = None
    extension: bytes = b""
    received: int = 0


class Parties:
    def __init__(self, url: str) -> None:
        self.url = url
        self.parties: list[Party] = []
        self.sent = 0
        self.paused = False  # connected, sending nothing (RTCP and ICE keep-alives only)
        self._clock: asyncio.Task[None] | None = None
        self._loops = {freq: encoded_loop(freq) for freq in (CALLER_HZ, CALLEE_HZ)}

    async def call(self, call_id: str, caller: str, callee: str) -> None:
        async with connect(self.url, max_size=1 << 20, compression=None) as ws:
            for user, freq in ((caller, CALLER_HZ), (callee, CALLEE_HZ)):
                await self.party(ws, call_id, caller, callee, user, freq)

    async def party(self, ws: Any, call_id: str, caller: str, callee: str, user: str,
                    freq: float) -> None:
        pc = new_peer_connection()
        idle = IdleTrack()
        transceiver = pc.addTransceiver(idle, direction="sendrecv")
        prefer_opus(transceiver)
        packets, level = self._loops[freq]
        party = Party(user, pc, packets)

        def count(seq: int, payload: bytes, level: Any) -> None:
            party.received += 1

        tap_receiver(transceiver.receiver, count)
        await pc.setLocalDescription(await pc.createOffer())
        await ws.send(json.dumps({"op": "offer", "call": call_id, "caller": caller,
                                  "callee": callee, "user": user,
                                  "sdp": pc.localDescription.sdp}))
        reply = json.loads(await ws.recv())
        if "sdp" not in reply:
            raise SystemExit(f"offer refused: {reply}")
        await pc.setRemoteDescription(RTCSessionDescription(sdp=reply["sdp"], type="answer"))
        fast_receive(transceiver, count)  # the cheap way in: this process drives many peers
        party.sender = DirectSender(transceiver, idle)
        ext_id = audio_level_extension_id(transceiver)
        if ext_id is not None:
            party.extension = audio_level_extension(ext_id, level)
        self.parties.append(party)

    async def connected(self, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while any(p.pc.connectionState != "connected" for p in self.parties):
            if time.monotonic() > deadline:
                states = [p.pc.connectionState for p in self.parties]
                raise SystemExit(f"peers did not connect: {states.count('connected')} of "
                                 f"{len(states)}")
            await asyncio.sleep(0.1)

    def start(self) -> None:
        self._clock = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time()
        n = 0
        while True:
            deadline += FRAME_SECONDS
            delay = deadline - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            n += 1
            if self.paused:
                continue
            ntp = ntp_now()
            i = n % LOOP_FRAMES
            for party in self.parties:
                assert party.sender is not None
                party.sender.send(party.packets[i], n * FRAME_SAMPLES, ntp, party.extension)
            self.sent += len(self.parties)

    def stats(self) -> dict[str, Any]:
        return {
            "peers": len(self.parties),
            "sent": self.sent,
            "received": sum(p.received for p in self.parties),
        }

    async def close(self) -> None:
        if self._clock is not None:
            self._clock.cancel()
        await asyncio.gather(*(p.pc.close() for p in self.parties), return_exceptions=True)


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.calls_media_peers")
    parser.add_argument("--url", required=True)
    parser.add_argument("--calls", type=int, default=10)
    parser.add_argument("--prefix", default="p")
    args = parser.parse_args(argv)
    parties = Parties(args.url)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    try:
        for start in range(0, args.calls, BATCH):
            await asyncio.gather(*(
                parties.call(f"{args.prefix}c{i}", f"{args.prefix}a{i}", f"{args.prefix}b{i}")
                for i in range(start, min(args.calls, start + BATCH))))
        await parties.connected()
        parties.start()
        emit("ready", parties.stats())
        reader = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)

        async def commands() -> None:
            while line := await reader.readline():
                command = line.strip()
                if command == b"stats":
                    emit("stats", parties.stats())
                elif command in (b"pause", b"resume"):
                    parties.paused = command == b"pause"
                    emit("stats", parties.stats())
            stop.set()

        task = asyncio.ensure_future(commands())
        await stop.wait()
        task.cancel()
        emit("stats", parties.stats())
    finally:
        with contextlib.suppress(Exception):
            await parties.close()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
