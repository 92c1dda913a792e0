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
import json
import sys
from dataclasses import dataclass
from typing import Any

from aiortc import RTCPeerConnection
from websockets.asyncio.client import connect

from bench.media_peers import PeerProcess, answered, emit, encoded_loop, negotiate
from media.answer import new_peer_connection, prefer_opus
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


class Parties(PeerProcess):
    connect_timeout = 120.0
    first_frame = 1  # the first tick sends frame 1 (timestamp 960), as it always has

    def __init__(self, url: str) -> None:
        super().__init__()
        self.url = url
        self.parties: list[Party] = []
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

        async def offer(sdp: str) -> str:
            await ws.send(json.dumps({"op": "offer", "call": call_id, "caller": caller,
                                      "callee": callee, "user": user, "sdp": sdp}))
            reply = json.loads(await ws.recv())
            if "sdp" not in reply:
                raise SystemExit(f"offer refused: {reply}")
            return str(reply["sdp"])

        await negotiate(pc, transceiver, offer, count)
        party.sender, party.extension = answered(transceiver, idle, level)
        self.parties.append(party)

    def connections(self) -> list[RTCPeerConnection]:
        return [p.pc for p in self.parties]

    def senders(self) -> list[Party]:
        return self.parties

    def stats(self) -> dict[str, Any]:
        return {
            "peers": len(self.parties),
            "sent": self.sent,
            "received": sum(p.received for p in self.parties),
        }


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.calls_media_peers")
    parser.add_argument("--url", required=True)
    parser.add_argument("--calls", type=int, default=10)
    parser.add_argument("--prefix", default="p")
    args = parser.parse_args(argv)
    parties = Parties(args.url)

    async def setup() -> None:
        for start in range(0, args.calls, BATCH):
            await asyncio.gather(*(
                parties.call(f"{args.prefix}c{i}", f"{args.prefix}a{i}", f"{args.prefix}b{i}")
                for i in range(start, min(args.calls, start + BATCH))))

    def command(line: bytes) -> None:
        if line == b"stats":
            emit("stats", parties.stats())
        elif line in (b"pause", b"resume"):
            parties.paused = line == b"pause"
            emit("stats", parties.stats())

    await parties.serve(setup, command)
    return 0

if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
