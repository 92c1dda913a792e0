"""Outbound audio tracks for aiortc's RTP sender, and the frame a tick hands its listeners.

A track whose ``recv()`` returns ``av.Packet`` objects makes aiortc's sender only packetize
them: one Opus encode of a mix can go to many listeners.
"""

from __future__ import annotations

import asyncio
import contextlib

import av
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from audio.constants import TIME_BASE

# 5 packets = 100 ms: a listener that falls further behind loses its oldest audio
# rather than accumulating delay (or memory).
OUTBOUND_QUEUE_PACKETS = 5


def make_packet(payload: bytes, pts: int) -> av.Packet:
    # aiortc's sender stops for good on a packet without int pts and time_base.
    packet = av.Packet(payload)
    packet.pts = pts
    packet.time_base = TIME_BASE
    return packet


class Outgoing:
    """One tick's encoded frame for one or many listeners (built once, shared)."""

    __slots__ = ("_packet", "ntp", "payload", "pts")

    def __init__(self, payload: bytes, pts: int, ntp: int = 0) -> None:
        self.payload = payload
        self.pts = pts
        self.ntp = ntp  # the tick's NTP time, for RTCP sender reports
        self._packet: av.Packet | None = None

    @property
    def packet(self) -> av.Packet:
        if self._packet is None:
            self._packet = make_packet(self.payload, self.pts)
        return self._packet


async def queued_packet(track: MediaStreamTrack,
                        queue: asyncio.Queue[av.Packet | None]) -> av.Packet:
    """The next packet for ``track``'s sender loop (its ``recv``): MediaStreamError once the
    track ended (stopping it puts a None in the queue to wake a waiting loop)."""
    if track.readyState != "live":
        raise MediaStreamError
    packet = await queue.get()
    if packet is None:
        raise MediaStreamError
    return packet


class PacketTrack(MediaStreamTrack):
    """An outbound audio track fed with encoded Opus packets.

    The queue is bounded: when the sender falls behind, the oldest packet is dropped.
    """

    kind = "audio"

    def __init__(self, maxsize: int = OUTBOUND_QUEUE_PACKETS) -> None:
        super().__init__()
        self._queue: asyncio.Queue[av.Packet | None] = asyncio.Queue(maxsize)
        self.dropped = 0
        self.sent = 0

    def deliver(self, out: Outgoing) -> None:
        self.push(out.packet)

    def push(self, packet: av.Packet) -> None:
        if self.readyState != "live":
            return
        if self._queue.full():
            with contextlib.suppress(asyncio.QueueEmpty):
                self._queue.get_nowait()
            self.dropped += 1
        self._queue.put_nowait(packet)

    async def recv(self) -> av.Packet:
        packet = await queued_packet(self, self._queue)
        self.sent += 1
        return packet

    def stop(self) -> None:
        if self.readyState == "live":
            # Wake a pending recv() so the sender loop ends.
            while True:
                try:
                    self._queue.put_nowait(None)
                    break
                except asyncio.QueueFull:
                    self._queue.get_nowait()
        super().stop()


class IdleTrack(MediaStreamTrack):
    """Parks aiortc's RTP sender loop (a DirectSender sends in its place); its RTCP runs on."""

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self._ended: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def recv(self) -> av.Packet:
        await asyncio.shield(self._ended)
        raise MediaStreamError

    def stop(self) -> None:
        if not self._ended.done():
            self._ended.set_result(None)
        super().stop()
