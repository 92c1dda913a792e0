"""A call's video relayed without decoding: whole VP8 frames from one party's receiver
(media.aiortc_hooks.FrameJitterBuffer) to an RTCRtpSender on the other party's connection.

The sender is fed ``av.Packet`` objects, so aiortc only packetizes them (``Vp8Encoder.pack``:
a new picture id per frame, the 90 kHz timestamp from ``pts``) and keeps its RTP history for
the receiver's NACKs. Keyframes: the receiving party's PLI/FIR and every gap the relay sees
(a lost frame, a new receiver, a sender that fell behind) become a PLI to the sending party,
at most one per ``KEYFRAME_REQUEST_SECONDS``; until a keyframe comes, delta frames are not
forwarded (they would decode to garbage: the picture ids the receiver sees are the relay's,
so it cannot tell a frame is missing).
"""

from __future__ import annotations

import asyncio
import fractions
import time
from collections.abc import Callable
from dataclasses import dataclass

import av
from aiortc.mediastreams import MediaStreamTrack

from media.tracks import queued_packet

VIDEO_CLOCK = 90_000
VIDEO_TIME_BASE = fractions.Fraction(1, VIDEO_CLOCK)
# Frames waiting for the RTP sender; one that falls further behind drops them all and waits
# for a keyframe rather than showing the past late.
OUT_QUEUE_FRAMES = 8
KEYFRAME_REQUEST_SECONDS = 0.3
# A new run of frames follows the last one by the wall-clock time between them, at least this.
MIN_FRAME_STEP = VIDEO_CLOCK // 90


@dataclass
class VideoStats:
    frames_in: int = 0  # whole frames taken from a party
    frames_relayed: int = 0  # handed to the other party's sender
    frames_dropped: int = 0  # not forwarded: waiting for a keyframe, or nobody to send to
    keyframe_requests: int = 0  # PLIs sent to a sending party
    keyframe_requests_in: int = 0  # PLI/FIR from a receiving party


class VideoOut(MediaStreamTrack):
    """The outbound video track of one party's connection, fed whole VP8 frames."""

    kind = "video"

    def __init__(self, want_keyframe: Callable[[], None]) -> None:
        super().__init__()
        self._queue: asyncio.Queue[av.Packet | None] = asyncio.Queue(OUT_QUEUE_FRAMES)
        self._want_keyframe = want_keyframe
        self.waiting = True  # for a keyframe: what the receiver needs first

    def push(self, data: bytes, pts: int, keyframe: bool) -> bool:
        """Queue a frame for the sender; False: dropped."""
        if self.readyState != "live":
            return False
        if self.waiting:
            if not keyframe:
                self._want_keyframe()
                return False
            self.waiting = False
        if self._queue.full():
            self._drain()
            self.waiting = True
            self._want_keyframe()
            return False
        packet = av.Packet(data)
        packet.pts = pts
        packet.time_base = VIDEO_TIME_BASE
        self._queue.put_nowait(packet)
        return True

    def lost(self) -> None:
        """Upstream lost a frame: nothing more until a keyframe."""
        self.waiting = True

    async def recv(self) -> av.Packet:
        return await queued_packet(self, self._queue)

    def stop(self) -> None:
        if self.readyState == "live":
            self._drain()
            self._queue.put_nowait(None)  # wakes a pending recv(): the sender loop ends
        super().stop()

    def _drain(self) -> None:
        while True:
            try:
                self._queue.get_nowait()
            except asyncio.QueueEmpty:
                return


class VideoDirection:
    """One party's video to the other: the sending party's PLI and the receiving party's
    track, both replaced when either re-offers."""

    def __init__(self, stats: VideoStats) -> None:
        self.stats = stats
        self.out: VideoOut | None = None
        # Sends a PLI to the sending party (their current connection), or None.
        self._pli: Callable[[], object] | None = None
        self._last_request = -KEYFRAME_REQUEST_SECONDS
        # Timestamp mapping onto the out track's pts: continuous across a new source.
        self._new_run = True
        self._last_in = 0
        self._last_pts = 0
        self._last_time = 0.0
        self._started = False

    # --- wiring ----------------------------------------------------------------------------

    def set_source(self, pli: Callable[[], object] | None) -> None:
        """The sending party's connection changed (``pli`` asks it for a keyframe)."""
        self._pli = pli
        self._new_run = True
        if self.out is not None:
            self.out.lost()

    def set_out(self, out: VideoOut | None) -> None:
        """The receiving party's connection changed; its track starts at a keyframe."""
        if self.out is not None and self.out is not out:
            self.out.stop()
        self.out = out
        self._started = False
        if out is not None:
            self.request_keyframe()

    def close(self) -> None:
        self.set_out(None)
        self._pli = None

    # --- media -----------------------------------------------------------------------------

    def on_frame(self, data: bytes, timestamp: int, ssrc: int, keyframe: bool) -> None:
        stats = self.stats
        stats.frames_in += 1
        out = self.out
        if out is None or not out.push(data, self._pts(timestamp), keyframe):
            stats.frames_dropped += 1
            return
        stats.frames_relayed += 1

    def on_loss(self) -> None:
        if self.out is not None:
            self.out.lost()
        self.request_keyframe()

    def keyframe_wanted(self) -> None:
        """The receiving party asked for a keyframe (PLI/FIR)."""
        self.stats.keyframe_requests_in += 1
        self.request_keyframe()

    def request_keyframe(self) -> None:
        now = time.monotonic()
        if self._pli is None or now - self._last_request < KEYFRAME_REQUEST_SECONDS:
            return
        self._last_request = now
        self.stats.keyframe_requests += 1
        self._pli()

    def _pts(self, timestamp: int) -> int:
        now = time.monotonic()
        if self._new_run or not self._started:
            if self._started:
                gap = int((now - self._last_time) * VIDEO_CLOCK)
                pts = self._last_pts + max(MIN_FRAME_STEP, gap)
            else:
                pts = 0
            self._new_run = False
            self._started = True
        else:
            delta = (timestamp - self._last_in) & 0xFFFFFFFF
            if delta >= 1 << 31:  # an older frame: keep it behind the last
                delta -= 1 << 32
            pts = self._last_pts + delta
        if pts >= self._last_pts:
            self._last_pts = pts
            self._last_in = timestamp
            self._last_time = now
        return max(0, pts)

