"""A real aiortc call party for media tests: a tone as its microphone, a moving test pattern as
its camera (encoded to VP8 by aiortc), and what it receives decoded: audio recorded (FFT it
with tests.support.rtc.levels_db), video frames counted with their sizes.

The keyframe requests (PLI/FIR) that reach its video sender are counted, so a test can see a
request travel through the relay.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

import numpy as np
from aiortc import RTCRtpSender, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack, VideoStreamTrack
from av import VideoFrame

from audio.sources import ToneSource
from client.tracks import Recorder, SourceTrack, new_peer_connection, prefer_opus


class PatternTrack(VideoStreamTrack):
    """A camera: a bright square sweeping over a dark frame at 30 frames a second."""

    def __init__(self, width: int = 160, height: int = 120) -> None:
        super().__init__()
        self.width = width
        self.height = height
        self.sent = 0

    async def recv(self) -> VideoFrame:
        pts, time_base = await self.next_timestamp()
        image = np.full((self.height, self.width, 3), 16, dtype=np.uint8)
        side = self.height // 3
        x = (self.sent * 4) % (self.width - side)
        image[side : 2 * side, x : x + side] = 235
        frame = VideoFrame.from_ndarray(image, format="rgb24")
        frame.pts = pts
        frame.time_base = time_base
        self.sent += 1
        return frame


class VideoParty:
    """One party's connection. ``tone``: the microphone's frequency (None: no audio sent).
    ``camera``: send video (a PatternTrack of ``size``); ``watch``: receive video; neither:
    no video section in the offer at all."""

    def __init__(self, tone: float | None, *, camera: bool = True, watch: bool = True,
                 size: tuple[int, int] = (160, 120)) -> None:
        self.pc = new_peer_connection()
        self.recorder = Recorder()
        source = SourceTrack(ToneSource(tone, 0.3)) if tone is not None else None
        self.audio = self.pc.addTransceiver(source or "audio",
                                            direction="sendrecv" if source else "recvonly")
        prefer_opus(self.audio)
        self.camera = PatternTrack(*size) if camera else None
        self.video = None
        self.keyframe_requests = 0
        if camera or watch:
            direction = ("sendrecv" if camera and watch else "sendonly" if camera
                         else "recvonly")
            self.video = self.pc.addTransceiver(self.camera or "video", direction=direction)
            caps = RTCRtpSender.getCapabilities("video")
            assert caps is not None
            self.video.setCodecPreferences(
                [c for c in caps.codecs if c.mimeType.lower() in ("video/vp8", "video/rtx")])
            sender: Any = self.video.sender
            forward = sender._send_keyframe

            def counted() -> None:
                self.keyframe_requests += 1
                forward()

            sender._send_keyframe = counted
        self.frames = 0
        self.sizes: set[tuple[int, int]] = set()
        self.last_images: list[np.ndarray] = []
        self._watch: asyncio.Task[None] | None = None
        self.pc.on("track", self._on_track)

    def _on_track(self, track: MediaStreamTrack) -> None:
        if track.kind == "audio":
            self.recorder.start(track)
        else:
            self._watch = asyncio.ensure_future(self._watch_video(track))

    async def _watch_video(self, track: MediaStreamTrack) -> None:
        with contextlib.suppress(MediaStreamError):
            while True:
                frame = await track.recv()
                assert isinstance(frame, VideoFrame)
                self.frames += 1
                self.sizes.add((frame.width, frame.height))
                self.last_images = [*self.last_images[-1:], frame.to_ndarray(format="gray")]

    def samples(self, last_seconds: float | None = None) -> np.ndarray:
        return self.recorder.samples(last_seconds)

    async def offer(self) -> str:
        await self.pc.setLocalDescription(await self.pc.createOffer())
        return str(self.pc.localDescription.sdp)

    async def connect(self, send_offer: Callable[[str], Awaitable[str]]) -> None:
        answer = await send_offer(await self.offer())
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))

    async def request_keyframe(self) -> None:
        """Ask the far side for a keyframe of the video received, as a decoder would."""
        assert self.video is not None
        receiver: Any = self.video.receiver
        ssrcs = list(receiver._RTCRtpReceiver__remote_streams)
        assert ssrcs, "no video received yet"
        await receiver._send_rtcp_pli(ssrcs[0])

    async def close(self) -> None:
        await self.recorder.stop()
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
        with contextlib.suppress(Exception):
            await self.pc.close()
