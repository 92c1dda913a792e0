"""Load-generating peers for the media benchmarks (run in their own process).

    python -m bench.media_peers --url ws://127.0.0.1:PORT/ws --rooms 2 --talkers 2 \
        --silent 7 --listeners 20 [--prefix w0]

Per room: a host who creates a chatroom (free seats) and publishes, seated publishers up to
9 in all, and listeners, each with its own websocket signaling (the project's VoiceClient)
and its own aiortc peer connection to the server. Publishers send pre-encoded Opus (a tone
for talkers, digital silence for the others) with an RFC 6464 level, like a browser, straight
through a DirectSender from one shared 20 ms clock: no encode and no per-peer timer here, so
one process can drive hundreds of peers. What comes back is counted (media.inbound.fast_receive),
not decoded.

Prints `ready {json}` once every peer is connected, `stats {json}` on each `stats` line read
from stdin and at exit (stdin closed or SIGTERM).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
import time
import zlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from aiortc import RTCPeerConnection, RTCRtpTransceiver, RTCSessionDescription

from audio.constants import FRAME_SAMPLES, FRAME_SECONDS
from audio.opus import OpusEncoder
from audio.sources import ToneSource
from client.connection import VoiceClient
from media.answer import new_peer_connection, prefer_opus
from media.inbound import fast_receive, tap_receiver
from media.rtp import audio_level_extension, audio_level_extension_id, ntp_now
from media.sender import DirectSender
from media.tracks import IdleTrack

LOOP_FRAMES = 50  # one second of pre-encoded audio, repeated
MAX_PUBLISHERS = 9  # the host and eight seats


def encoded_loop(freq: float | None) -> tuple[list[bytes], int]:
    """One second of Opus packets (a tone, or digital silence) and its RFC 6464 level."""
    encoder = OpusEncoder()
    if freq is None:
        silence = np.zeros(FRAME_SAMPLES, dtype=np.int16)
        return [encoder.encode(silence) for _ in range(LOOP_FRAMES)], 127
    source = ToneSource(freq, 0.3)  # whole periods per second: the loop has no seam
    return [encoder.encode(source.read()) for _ in range(LOOP_FRAMES)], 13  # ~-13 dBov


class Publisher(Protocol):
    """A peer that sends: its sender (None until answered), its loop, its level extension."""

    sender: DirectSender | None
    packets: list[bytes]
    extension: bytes


def answered(transceiver: RTCRtpTransceiver, idle: IdleTrack,
             level: int) -> tuple[DirectSender, bytes]:
    """A publisher's sender and RFC 6464 extension (empty if not negotiated), once answered."""
    ext_id = audio_level_extension_id(transceiver)
    extension = b"" if ext_id is None else audio_level_extension(ext_id, level)
    return DirectSender(transceiver, idle), extension


async def negotiate(pc: RTCPeerConnection, transceiver: RTCRtpTransceiver,
                    offer: Callable[[str], Awaitable[str]],
                    count: Callable[[int, bytes, Any], None]) -> None:
    """Offer through `offer` (the offer's SDP in, the answer's out), counting what comes in."""
    tap_receiver(transceiver.receiver, count)
    await pc.setLocalDescription(await pc.createOffer())
    answer = await offer(pc.localDescription.sdp)
    await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
    fast_receive(transceiver, count)  # the cheap way in: this process drives many peers


class PeerProcess:
    """What a peers process does whatever its peers are: wait for them to connect, send every
    publisher's next packet on one 20 ms clock, and live (`serve`) until stdin closes."""

    connect_timeout = 60.0
    first_frame = 0  # the frame number of the clock's first tick
    paused = False  # connected, sending nothing (RTCP and ICE keep-alives only)

    def __init__(self) -> None:
        self.sent = 0
        self._clock: asyncio.Task[None] | None = None

    def connections(self) -> list[RTCPeerConnection]:
        raise NotImplementedError

    def senders(self) -> Sequence[Publisher]:
        raise NotImplementedError

    def stats(self) -> dict[str, Any]:
        raise NotImplementedError

    async def connected(self) -> None:
        deadline = time.monotonic() + self.connect_timeout
        while any(pc.connectionState != "connected" for pc in self.connections()):
            if time.monotonic() > deadline:
                states = [pc.connectionState for pc in self.connections()]
                raise SystemExit(f"peers did not connect: {states.count('connected')} of "
                                 f"{len(states)}")
            await asyncio.sleep(0.1)

    def start(self) -> None:
        self._clock = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time()
        n = self.first_frame
        while True:
            deadline += FRAME_SECONDS
            delay = deadline - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            if not self.paused:
                ntp = ntp_now()
                i = n % LOOP_FRAMES
                senders = self.senders()
                for peer in senders:
                    assert peer.sender is not None
                    peer.sender.send(peer.packets[i], n * FRAME_SAMPLES, ntp, peer.extension)
                self.sent += len(senders)
            n += 1

    async def close(self) -> None:
        if self._clock is not None:
            self._clock.cancel()
        await asyncio.gather(*(pc.close() for pc in self.connections()),
                             return_exceptions=True)

    async def serve(self, setup: Callable[[], Awaitable[None]],
                    command: Callable[[bytes], None]) -> None:
        """Set up, print `ready {stats}` once all are connected and sending, pass each stdin
        line (stripped) to `command`; at stdin's end or SIGTERM print `stats`, close."""
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        try:
            await setup()
            await self.connected()
            self.start()
            emit("ready", self.stats())
            reader = asyncio.StreamReader()
            await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader),
                                         sys.stdin)

            async def commands() -> None:
                while line := await reader.readline():
                    command(line.strip())
                stop.set()

            task = asyncio.ensure_future(commands())
            await stop.wait()
            task.cancel()
            emit("stats", self.stats())
        finally:
            with contextlib.suppress(Exception):
                await self.close()


@dataclass
class Peer:
    user: str
    client: VoiceClient
    pc: RTCPeerConnection
    sender: DirectSender | None = None
    packets: list[bytes] = field(default_factory=list)
    extension: bytes = b""
    received: int = 0
    received_bytes: int = 0


class Peers(PeerProcess):
    def __init__(self, url: str) -> None:
        super().__init__()
        self.url = url
        self.peers: list[Peer] = []
        self.publishers: list[Peer] = []
        self.rooms: list[str] = []
        # --trace: when the first listener got each payload (monotonic, the recent ones).
        self.tracing = False
        self.traced = False
        self.trace: dict[int, float | None] = {}

    async def peer(self, user: str, room: str | None, freq: float | None, publish: bool,
                   client: VoiceClient | None = None) -> Peer:
        if client is None:
            client = await VoiceClient.connect(self.url, user=user, name=user, reconnect=False)
        pc = new_peer_connection()
        idle = IdleTrack() if publish else None
        transceiver = pc.addTransceiver(idle or "audio", direction="sendrecv" if publish
                                        else "recvonly")
        prefer_opus(transceiver)
        peer = Peer(user, client, pc)

        trace = self.trace if self.tracing and not publish and not self.traced else None
        if trace is not None:
            self.traced = True  # the first listener's arrivals only

        def count(seq: int, payload: bytes, level: Any) -> None:
            peer.received += 1
            peer.received_bytes += len(payload)
            if trace is not None:
                # The same mix packet reaches every node's listeners with the same bytes:
                # arrival times of one payload compare nodes (bench/audience.py).
                key = zlib.crc32(payload) ^ (len(payload) << 32)
                # A payload seen twice in a trace cannot be matched: left out (None).
                trace[key] = None if key in trace else time.monotonic()

        async def offer(sdp: str) -> str:
            assert room is not None
            return str((await client.webrtc_offer(room, sdp))["sdp"])

        await negotiate(pc, transceiver, offer, count)
        if publish and idle is not None:
            peer.packets, level = encoded_loop(freq)
            peer.sender, peer.extension = answered(transceiver, idle, level)
            self.publishers.append(peer)
        self.peers.append(peer)
        return peer

    async def room(self, prefix: str, talkers: int, silent: int, listeners: int) -> str:
        publishers = talkers + silent
        if not 1 <= publishers <= MAX_PUBLISHERS:
            raise SystemExit(f"publishers per room: 1 to {MAX_PUBLISHERS}")
        host = await VoiceClient.connect(self.url, user=f"{prefix}-host", name="host",
                                         reconnect=False)
        state = (await host.create_room(f"bench {prefix}", seat_mode="free"))["room"]
        room = str(state["id"])
        self.rooms.append(room)
        await host.open_chatroom(room)
        freqs = [300.0 + 100.0 * i for i in range(talkers)] + [None] * silent
        await self.peer(f"{prefix}-host", room, freqs[0], True, client=host)
        for seat, freq in enumerate(freqs[1:]):
            user = f"{prefix}-s{seat}"
            client = await VoiceClient.connect(self.url, user=user, name=user, reconnect=False)
            await client.join_room(room)
            await client.take_seat(room, seat)
            await self.peer(user, room, freq, True, client=client)

        await self.listeners(room, prefix, listeners)
        return room

    async def listeners(self, room: str, prefix: str, count: int) -> None:
        """``count`` listeners join ``room`` (created here or elsewhere) and offer recvonly."""
        if room not in self.rooms:
            self.rooms.append(room)

        async def listener(i: int) -> None:
            user = f"{prefix}-l{i}"
            client = await VoiceClient.connect(self.url, user=user, name=user, reconnect=False)
            await client.join_room(room)
            await self.peer(user, room, None, False, client=client)

        for start in range(0, count, 10):  # a few at a time: ICE gathering is slow-ish
            await asyncio.gather(*(listener(i) for i in range(start, min(count, start + 10))))

    def connections(self) -> list[RTCPeerConnection]:
        return [p.pc for p in self.peers]

    def senders(self) -> list[Peer]:
        return self.publishers

    def stats(self) -> dict[str, Any]:
        listeners = [p for p in self.peers if p.sender is None]
        return {
            "peers": len(self.peers),
            "publishers": len(self.publishers),
            "sent": self.sent,
            "received": sum(p.received for p in self.peers),
            "received_by_listeners": sum(p.received for p in listeners),
            "listeners": len(listeners),
            "rooms": self.rooms,
        }

    async def close(self) -> None:
        await super().close()
        await asyncio.gather(*(p.client.close() for p in self.peers), return_exceptions=True)


def emit(kind: str, data: dict[str, Any]) -> None:
    print(f"{kind} {json.dumps(data)}", flush=True)


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.media_peers")
    parser.add_argument("--url", required=True)
    parser.add_argument("--rooms", type=int, default=1)
    parser.add_argument("--talkers", type=int, default=2)
    parser.add_argument("--silent", type=int, default=7)
    parser.add_argument("--listeners", type=int, default=20)
    parser.add_argument("--prefix", default="w0")
    parser.add_argument("--join", metavar="ROOM",
                        help="listeners only, joining this existing room (on any node)")
    parser.add_argument("--trace", action="store_true",
                        help="keep the first listener's arrival times (the `trace` command)")
    args = parser.parse_args(argv)
    peers = Peers(args.url)
    peers.tracing = args.trace

    async def setup() -> None:
        if args.join:
            await peers.listeners(args.join, args.prefix, args.listeners)
        else:
            for r in range(args.rooms):
                await peers.room(f"{args.prefix}r{r}", args.talkers, args.silent,
                                 args.listeners)

    def command(line: bytes) -> None:
        if line == b"stats":
            emit("stats", peers.stats())
        elif line == b"trace":
            emit("trace", {str(k): t for k, t in peers.trace.items()})
            peers.trace.clear()

    await peers.serve(setup, command)
    return 0

if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
