"""A call's media on the client: one aiortc peer connection to the server for one call.

The server relays each party's audio (and, in a video call, VP8 video) to the other, so
the peer is always the server: `webrtc_offer {call, sdp}` with a full offer, no trickle.
Audio: a source played as a microphone (tone, file; None listens only), and a recorder of
what is heard. Video: a camera track (a generated `PatternTrack` here) or receive only,
and a `VideoSink` counting the frames that arrive.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from aiortc import RTCSessionDescription
from aiortc.mediastreams import MediaStreamTrack

from audio.sources import PcmSource
from client.errors import Reply
from client.tracks import Recorder, SourceTrack, new_peer_connection, prefer_opus
from client.video import VideoSink, prefer_vp8


class Offerer(Protocol):
    async def call_offer(self, call: str, sdp: str) -> Reply: ...


class CallMedia:
    """One party's media in one call.

    `source`: what to say (None: listen only). `video`: negotiate video at all (a video
    call); `camera`: the track to send in it (None: receive video only).
    """

    def __init__(
        self,
        source: PcmSource | None = None,
        *,
        video: bool = False,
        camera: MediaStreamTrack | None = None,
        record_seconds: float = 600.0,
    ) -> None:
        self.pc = new_peer_connection()
        self.source_track = SourceTrack(source) if source is not None else None
        self.audio = self.pc.addTransceiver(
            self.source_track or "audio",
            direction="sendrecv" if self.source_track is not None else "recvonly")
        prefer_opus(self.audio)
        self.camera = camera if video else None
        self.video = None
        if video:
            self.video = self.pc.addTransceiver(
                self.camera or "video",
                direction="sendrecv" if self.camera is not None else "recvonly")
            prefer_vp8(self.video)
        self.recorder = Recorder(max_seconds=record_seconds)
        self.sink = VideoSink()
        self.pc.on("track", self._on_track)

    def _on_track(self, track: MediaStreamTrack) -> None:
        if track.kind == "audio":
            self.recorder.start(track)
        elif track.kind == "video":
            self.sink.start(track)

    @property
    def connected(self) -> bool:
        return self.pc.connectionState == "connected"

    async def connect(self, client: Offerer, call: str) -> None:
        """Offer for `call` (active, this user a party) and apply the server's answer."""
        await self.pc.setLocalDescription(await self.pc.createOffer())  # gathers ICE
        reply = await client.call_offer(call, str(self.pc.localDescription.sdp))
        await self.pc.setRemoteDescription(
            RTCSessionDescription(sdp=str(reply["sdp"]), type="answer"))

    async def wait_connected(self, timeout: float = 10.0) -> None:
        """Until ICE and DTLS are up; TimeoutError otherwise."""
        async with asyncio.timeout(timeout):
            while not self.connected:
                if self.pc.connectionState in ("failed", "closed"):
                    raise ConnectionError(f"call media {self.pc.connectionState}")
                await asyncio.sleep(0.05)

    def set_muted(self, muted: bool) -> None:
        """Mute the microphone: silence goes out (the track keeps its timing)."""
        if self.source_track is not None:
            self.source_track.muted = muted

    def set_camera(self, on: bool) -> None:
        """Camera off sends no video (the peer's picture freezes); on sends it again."""
        if self.video is not None and self.camera is not None:
            self.video.sender.replaceTrack(self.camera if on else None)

    def samples(self, last_seconds: float | None = None) -> np.ndarray:
        return self.recorder.samples(last_seconds)

    def save_wav(self, path: str | Path) -> None:
        self.recorder.save_wav(path)

    def stats(self) -> dict[str, Any]:
        """What arrived so far: audio seconds, video frames and their size."""
        return {"audio_seconds": round(self.recorder.seconds, 2),
                "video_frames": self.sink.frames,
                "video_size": [self.sink.width, self.sink.height]}

    async def close(self) -> None:
        await self.recorder.stop()
        await self.sink.stop()
        with contextlib.suppress(Exception):
            await self.pc.close()
