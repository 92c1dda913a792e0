"""The client's own aiortc side: peer connections, a source played as a microphone, a recorder.

Everything is 48 kHz mono int16 in 20 ms frames of 960 samples, the room format.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path

import numpy as np
from aiortc import RTCConfiguration, RTCPeerConnection, RTCRtpSender, RTCRtpTransceiver
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av import AudioFrame
from av.frame import Frame
from av.packet import Packet

from audio.constants import FRAME_SAMPLES, SAMPLE_RATE, TIME_BASE
from audio.sources import PcmSource, write_wav


def new_peer_connection() -> RTCPeerConnection:
    # No STUN: the default public server times out where the network is closed.
    return RTCPeerConnection(RTCConfiguration(iceServers=[]))


def prefer_codec(transceiver: RTCRtpTransceiver, mime_type: str) -> None:
    """Offer only `mime_type` ("audio/opus", "video/vp8") on this transceiver."""
    caps = RTCRtpSender.getCapabilities(mime_type.split("/")[0])
    assert caps is not None
    transceiver.setCodecPreferences([c for c in caps.codecs if c.mimeType.lower() == mime_type])


def prefer_opus(transceiver: RTCRtpTransceiver) -> None:
    # Opus only, so the server's Opus payloads are never sent under another payload type.
    prefer_codec(transceiver, "audio/opus")


class SourceTrack(MediaStreamTrack):
    """An aiortc audio track that plays a PcmSource in real time, like a microphone."""

    kind = "audio"

    def __init__(self, source: PcmSource) -> None:
        super().__init__()
        self.source = source
        self.muted = False
        """Send silence (the source still plays on, as a live microphone would)."""
        self._start: float | None = None
        self._pts = 0

    async def recv(self) -> AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = time.monotonic()
        else:
            self._pts += FRAME_SAMPLES
            wait = self._start + self._pts / SAMPLE_RATE - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
        pcm = self.source.read()
        if self.muted:
            pcm = np.zeros_like(pcm)
        frame = AudioFrame.from_ndarray(pcm.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = SAMPLE_RATE
        frame.pts = self._pts
        frame.time_base = TIME_BASE
        return frame


def frame_to_mono(frame: AudioFrame) -> np.ndarray:
    """int16 mono samples of a decoded frame (aiortc decodes Opus to packed stereo)."""
    data = frame.to_ndarray()
    channels = len(frame.layout.channels)
    if frame.format.is_planar:
        return np.asarray(data[0], dtype=np.int16)
    return np.asarray(data.reshape(-1)[::channels], dtype=np.int16)


class TrackSink:
    """Drains a received track in a task, handing each frame to `take`.

    Draining matters on its own: aiortc queues every decoded frame until ``recv()``."""

    def __init__(self) -> None:
        self._task: asyncio.Task[None] | None = None

    def start(self, track: MediaStreamTrack) -> None:
        if self._task is not None:
            self._task.cancel()
        self._task = asyncio.ensure_future(self._run(track))

    async def _run(self, track: MediaStreamTrack) -> None:
        with contextlib.suppress(MediaStreamError):
            while True:
                self.take(await track.recv())

    def take(self, frame: Frame | Packet) -> None:
        raise NotImplementedError

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, MediaStreamError):
                await self._task
            self._task = None


class Recorder(TrackSink):
    """Drains a received track and keeps its audio (48 kHz mono int16).

    ``max_seconds`` bounds memory by keeping only the most recent audio.
    """

    def __init__(self, max_seconds: float = 600.0) -> None:
        super().__init__()
        self._chunks: list[np.ndarray] = []
        self._samples = 0
        self._max = int(max_seconds * SAMPLE_RATE)
        self.frames = 0

    def take(self, frame: Frame | Packet) -> None:
        assert isinstance(frame, AudioFrame)
        self.add(frame_to_mono(frame))

    def add(self, pcm: np.ndarray) -> None:
        self._chunks.append(pcm)
        self._samples += len(pcm)
        self.frames += 1
        while self._samples - len(self._chunks[0]) >= self._max and len(self._chunks) > 1:
            self._samples -= len(self._chunks.pop(0))

    @property
    def seconds(self) -> float:
        return self._samples / SAMPLE_RATE

    def samples(self, last_seconds: float | None = None) -> np.ndarray:
        if not self._chunks:
            return np.zeros(0, dtype=np.int16)
        pcm = np.concatenate(self._chunks)
        if last_seconds is not None:
            pcm = pcm[-int(last_seconds * SAMPLE_RATE) :]
        return pcm

    def clear(self) -> None:
        self._chunks.clear()
        self._samples = 0

    def save_wav(self, path: str | Path) -> None:
        write_wav(path, self.samples())
