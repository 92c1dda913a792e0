"""The client's video for calls: a generated camera, and a sink that counts what arrives.

No camera on a server or in a test: `PatternTrack` paints frames of one colour with a bar
moving across them (so the encoder has motion to code, like a real picture), and
`VideoSink` drains a received track, counting frames and keeping their size and the
average colour, which tells whose picture arrived.
"""

from __future__ import annotations

import asyncio
import fractions
import time

import numpy as np
from aiortc import RTCRtpTransceiver
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av import VideoFrame
from av.frame import Frame
from av.packet import Packet

from client.tracks import TrackSink, prefer_codec

VIDEO_CLOCK = 90_000
VIDEO_TIME_BASE = fractions.Fraction(1, VIDEO_CLOCK)
DEFAULT_SIZE = (320, 240)
DEFAULT_FPS = 15
# The sink measures the colour of one frame in this many (the mean of a frame costs).
COLOUR_EVERY = 5

Colour = tuple[int, int, int]


def prefer_vp8(transceiver: RTCRtpTransceiver) -> None:
    # The server relays VP8 without decoding it: offering only VP8 keeps both sides on it.
    prefer_codec(transceiver, "video/vp8")


class PatternTrack(MediaStreamTrack):
    """A generated camera: `colour` frames of `size` with a white bar moving across, at
    `fps` frames a second in real time."""

    kind = "video"

    def __init__(self, colour: Colour = (40, 90, 200), *, size: tuple[int, int] = DEFAULT_SIZE,
                 fps: int = DEFAULT_FPS) -> None:
        super().__init__()
        width, height = size
        self.colour = colour
        self.fps = fps
        self._picture = np.empty((height, width, 3), dtype=np.uint8)
        self._picture[:] = colour
        self._bar = max(4, width // 16)
        self._start: float | None = None
        self._count = 0

    async def recv(self) -> VideoFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = time.monotonic()
        else:
            wait = self._start + self._count / self.fps - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            elif wait < -2 / self.fps:
                # Nobody read for a while (camera off): go on from now, not in a burst.
                self._start -= wait
        picture = self._picture.copy()
        width = picture.shape[1]
        x = (self._count * 4) % max(1, width - self._bar)
        picture[:, x : x + self._bar] = 255
        frame = VideoFrame.from_ndarray(picture, format="rgb24")
        frame.pts = self._count * VIDEO_CLOCK // self.fps
        frame.time_base = VIDEO_TIME_BASE
        self._count += 1
        return frame


class VideoSink(TrackSink):
    """Drains a received video track, keeping its frame count, size and a recent colour."""

    def __init__(self) -> None:
        super().__init__()
        self.frames = 0
        self.width = 0
        self.height = 0
        self.colour: tuple[float, float, float] | None = None
        """The average colour of a recent frame (the moving bar brightens it a little)."""

    def take(self, frame: Frame | Packet) -> None:
        assert isinstance(frame, VideoFrame)
        self.add(frame)

    def add(self, frame: VideoFrame) -> None:
        if self.frames % COLOUR_EVERY == 0:
            pixels = frame.to_ndarray(format="rgb24")
            means = pixels.reshape(-1, 3).mean(axis=0)
            self.colour = (float(means[0]), float(means[1]), float(means[2]))
        self.frames += 1
        self.width, self.height = frame.width, frame.height
