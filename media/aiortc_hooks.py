"""The private aiortc 1.16 internals the call relay leans on, in one place.

aiortc is pinned in pyproject.toml; tests/media/test_aiortc_hooks.py fails when any of these
moves. What is used, and why:

- ``RTCRtpReceiver.__jitter_buffer`` (video): replaced by ``FrameJitterBuffer``, which hands
  each whole VP8 frame to the relay instead of aiortc's decoder thread (a relay never decodes),
  and as soon as the frame's last packet is in rather than when the next frame starts.
  Everything before it in ``_handle_rtp_packet`` stays aiortc's: RTCP statistics, RTX
  unwrapping, NACKs for missing packets, VP8 depayloading.
- ``RTCRtpReceiver._send_rtcp_pli``: a keyframe request to the party that sends the video.
- ``RTCRtpSender._send_keyframe``: where aiortc's sender lands a PLI or FIR from the party that
  receives the video (it only flags its own encoder, which a relay does not use).
- ``RTCRtpReceiver._handle_rtp_packet`` and ``__remote_streams`` (audio): aiortc's receive
  path, for packets that do not come through media.inbound.hook_rtp's fast path.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

import aiortc
from aiortc.jitterbuffer import JitterBuffer
from aiortc.rtcrtpreceiver import RTCRtpReceiver, StreamStatistics
from aiortc.rtcrtpsender import RTCRtpSender
from aiortc.rtp import RtpPacket

from audio.constants import SAMPLE_RATE

PINNED_AIORTC = "1.16.0"
# Packets a video frame may span (a keyframe of 720p is well under 100), and how far a hole
# that NACKs do not fill holds frames back before the buffer gives up and asks for a keyframe.
VIDEO_BUFFER_PACKETS = 256

# (VP8 frame, RTP timestamp, SSRC, keyframe?)
FrameSink = Callable[[bytes, int, int, bool], None]


def aiortc_version() -> str:
    return str(aiortc.__version__)


class FrameJitterBuffer(JitterBuffer):
    """aiortc's video jitter buffer, handing every whole frame to ``on_frame`` the moment its
    last packet (the RTP marker bit) is in.

    A frame whose first packet is not a VP8 partition start, or packets aiortc's buffer threw
    away, are a loss: ``on_loss`` is called, since the frames after it cannot be decoded until
    a keyframe (the relay stops forwarding until one comes and asks for it). aiortc's decoder
    queue never gets anything.
    """

    def __init__(self, on_frame: FrameSink, on_loss: Callable[[], None]) -> None:
        super().__init__(capacity=VIDEO_BUFFER_PACKETS, is_video=True)
        self.on_frame = on_frame
        self.on_loss = on_loss
        self.ssrc: int | None = None  # of the stream last seen: where keyframe requests go
        self.frames = 0
        self.losses = 0

    def add(self, packet: RtpPacket) -> tuple[bool, None]:
        self.ssrc = packet.ssrc
        lost, _ = super().add(packet)
        if lost:
            self.losses += 1
            self.on_loss()
        # The relay asks for keyframes itself, rate-limited: aiortc's own PLI stays off.
        return False, None

    def _remove_frame(self, sequence_number: int) -> None:
        while True:
            self._skip_padding()
            packets = self._complete_frame()
            if packets is None:
                return None
            self.remove(len(packets))
            first = packets[0].payload
            # VP8 payload descriptor: S (start of partition) set and partition index 0.
            if not first or not (first[0] & 0x10) or first[0] & 0x07:
                self.losses += 1
                self.on_loss()
                continue
            data = b"".join(p._data for p in packets)  # type: ignore[attr-defined]
            if data:
                self.frames += 1
                # VP8 frame tag: bit 0 clear is a keyframe (RFC 6386, 9.1).
                self.on_frame(data, packets[0].timestamp, packets[0].ssrc, not data[0] & 1)

    def _skip_padding(self) -> None:
        """Padding-only packets (a sender probing bandwidth) at the start are nobody's
        frame: passed over, not taken for the start of a broken one."""
        while self._origin is not None:
            packet = self._packets[self._origin % self._capacity]
            if packet is None or packet.payload:
                return
            self.remove(1)

    def _complete_frame(self) -> list[RtpPacket] | None:
        """The packets of the frame at the buffer's start when all are in: contiguous from
        the start up to the marker bit, or up to the next frame's first packet."""
        if self._origin is None:
            return None
        packets: list[RtpPacket] = []
        timestamp = None
        for count in range(self._capacity):
            packet = self._packets[(self._origin + count) % self._capacity]
            if packet is None:
                return None
            if timestamp is None:
                timestamp = packet.timestamp
            elif packet.timestamp != timestamp:
                return packets  # its marker was lost, but the next frame has begun
            packets.append(packet)
            if packet.marker:
                return packets
        return None


def tap_video(receiver: RTCRtpReceiver, buffer: FrameJitterBuffer) -> None:
    """Put ``buffer`` in place of the receiver's jitter buffer (before it receives)."""
    receiver._RTCRtpReceiver__jitter_buffer = buffer  # type: ignore[attr-defined]


def request_keyframe(receiver: RTCRtpReceiver, ssrc: int) -> asyncio.Task[None]:
    """Send a PLI for stream ``ssrc`` to the party the receiver receives from."""

    async def send() -> None:
        with contextlib.suppress(Exception):  # closing: the request goes nowhere
            await receiver._send_rtcp_pli(ssrc)

    return asyncio.ensure_future(send())


def on_keyframe_request(sender: RTCRtpSender, callback: Callable[[], None]) -> None:
    """Call ``callback`` whenever the party the sender sends to asks for a keyframe (PLI or
    FIR), instead of flagging aiortc's encoder, which packets from a relay never pass."""
    sender._send_keyframe = callback  # type: ignore[method-assign]


# (sequence number, timestamp, SSRC, payload, RFC 6464 level or None)
AudioFieldsSink = Callable[[int, int, int, bytes, Any], None]


def hook_receiver(receiver: RTCRtpReceiver, on_packet: Callable[[RtpPacket], None], *,
                  max_streams: int | None = None) -> None:
    """Hand the receiver's RTP packets (aiortc's own receive path) to ``on_packet`` instead
    of its jitter buffer and decoder thread, whose output queue nobody drains. RTCP
    statistics are kept: the sender gets honest receiver reports. ``max_streams``: packets
    of further SSRCs are dropped (their statistics would grow on junk)."""
    stats: dict[int, StreamStatistics] = receiver._RTCRtpReceiver__remote_streams  # type: ignore[attr-defined]

    async def handle_rtp_packet(packet: RtpPacket, arrival_time_ms: int) -> None:
        if not receiver._enabled:
            return
        stream = stats.get(packet.ssrc)
        if stream is None:
            if max_streams is not None and len(stats) >= max_streams:
                return
            stream = stats[packet.ssrc] = StreamStatistics(SAMPLE_RATE)
        stream.add(packet)
        on_packet(packet)

    receiver._handle_rtp_packet = handle_rtp_packet  # type: ignore[method-assign]


def tap_audio(receiver: RTCRtpReceiver, sink: AudioFieldsSink) -> None:
    """Route the receiver's RTP packets to ``sink``, past aiortc's jitter buffer and decoder
    thread (``hook_receiver``)."""

    def on_packet(packet: RtpPacket) -> None:
        sink(packet.sequence_number, packet.timestamp, packet.ssrc, packet.payload,
             packet.extensions.audio_level)

    # One audio stream per connection.
    hook_receiver(receiver, on_packet, max_streams=4)
