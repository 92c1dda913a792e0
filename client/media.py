"""The Python client's media: one aiortc peer connection to the room's server.

Plays a microphone-like source (tone, file) when the user will speak, and records what
the room sends back. Signaling is the client's ``webrtc_offer`` (a full offer, no trickle).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from aiortc import RTCSessionDescription
from aiortc.mediastreams import MediaStreamTrack
from aiortc.rtp import is_rtcp

from audio.sources import PcmSource
from client.tracks import Recorder, SourceTrack, new_peer_connection, prefer_opus


class ClientMedia:
    """A member's audio connection.

    ``source``: what to send (None: receive only). ``receive``: record what the room sends.
    """

    def __init__(
        self,
        source: PcmSource | None = None,
        *,
        receive: bool = True,
        record_seconds: float = 600.0,
        recorder: Recorder | None = None,
    ) -> None:
        if source is None and not receive:
            raise ValueError("media that neither sends nor receives")
        self.pc = new_peer_connection()
        self.track: MediaStreamTrack | None = SourceTrack(source) if source is not None else None
        self.recorder = recorder or Recorder(max_seconds=record_seconds)
        direction = (
            "sendrecv" if source is not None and receive
            else "sendonly" if source is not None
            else "recvonly"
        )
        self.transceiver = self.pc.addTransceiver(self.track or "audio", direction=direction)
        prefer_opus(self.transceiver)
        self.pc.on("track", self._on_track)
        self.rtp_sent = 0
        self.rtp_dropped = 0

    def _on_track(self, track: MediaStreamTrack) -> None:
        if track.kind == "audio":
            self.recorder.start(track)

    @property
    def direction(self) -> str:
        return str(self.transceiver.direction)

    async def offer(self) -> str:
        await self.pc.setLocalDescription(await self.pc.createOffer())  # gathers ICE
        return str(self.pc.localDescription.sdp)

    async def accept(self, answer_sdp: str) -> None:
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=answer_sdp, type="answer"))

    async def connect(self, send_offer: Callable[[str], Awaitable[Any]]) -> None:
        """Offer through ``send_offer(sdp)`` (returning the answer SDP, or a reply
        mapping with ``sdp``) and apply the answer."""
        reply = await send_offer(await self.offer())
        answer = reply["sdp"] if isinstance(reply, dict) else reply
        await self.accept(str(answer))

    def drop_outgoing_rtp(self, rate: float, rng: random.Random | None = None) -> None:
        """Simulate packet loss: drop this fraction of our outgoing RTP (never RTCP)."""
        transport = self.transceiver.sender.transport
        send = transport._send_rtp
        pick = rng or random.Random()

        async def lossy_send(data: bytes) -> None:
            if not is_rtcp(data):
                self.rtp_sent += 1
                if pick.random() < rate:
                    self.rtp_dropped += 1
                    return
            await send(data)

        transport._send_rtp = lossy_send  # type: ignore[method-assign]

    def samples(self, last_seconds: float | None = None) -> np.ndarray:
        return self.recorder.samples(last_seconds)

    def save_wav(self, path: str | Path) -> None:
        self.recorder.save_wav(path)

    async def close(self) -> None:
        await self.recorder.stop()
        with contextlib.suppress(Exception):
            await self.pc.close()


class MemberMedia:
    """The CLI's media in one room: offers, re-offers when the user's seat changes, records.

    A user with a source sends only while they are a speaker (the host, or seated): an
    audience member offers ``recvonly`` and offers again with ``sendrecv`` once seated.
    The recording (when asked for) runs across re-offers and is written at ``close()``.
    """

    def __init__(
        self,
        client: Any,
        room: str,
        *,
        source: Callable[[], PcmSource] | None = None,
        record: str | Path | None = None,
        host: bool = False,
    ) -> None:
        self.client = client
        self.room = room
        self.host = host  # the host speaks without a seat
        self.source = source
        self.record = Path(record) if record is not None else None
        self.recorder = Recorder()
        self.media: ClientMedia | None = None
        self.speaking = False
        self._lock = asyncio.Lock()

    async def start(self, speaking: bool) -> None:
        await self._offer(speaking)

    async def _offer(self, speaking: bool) -> None:
        async with self._lock:
            sends = speaking and self.source is not None
            if self.media is not None and sends == self.speaking:
                return
            old, self.media = self.media, None
            if old is not None:
                await old.pc.close()
            media = ClientMedia(
                self.source() if sends and self.source is not None else None,
                receive=True,
                recorder=self.recorder,
            )
            try:
                await media.connect(lambda sdp: self.client.webrtc_offer(self.room, sdp))
            except BaseException:
                # Refused or cancelled: nobody holds this connection, so free its sockets now
                # (not media.close(): the recorder is shared across offers).
                await asyncio.shield(media.pc.close())
                raise
            self.media = media
            self.speaking = sends

    async def on_event(self, event: Mapping[str, Any]) -> None:
        """Follow seat changes: re-offer when this user starts or stops being a speaker."""
        if self.source is None or self.host or event.get("room") != self.room:
            return
        seats: list[Any] = []
        kind = event.get("type")
        if kind == "seat_changed":
            seats = [event.get("seat")]
        elif kind == "mode_changed":
            seats = list(event.get("seats") or [])
        elif kind == "room_state":
            state = event.get("state") or {}
            if (state.get("host") or {}).get("user") == self.client.user:
                self.host = True
                return
            seats = list(state.get("seats") or [])
        else:
            return
        me = self.client.user
        mine = [s for s in seats if isinstance(s, dict) and s.get("user") == me]
        if kind == "seat_changed":
            if mine:
                seated = True
            elif self.speaking and _seat_index(event.get("seat")) == self._seat:
                seated = False
            else:
                return
        else:
            seated = bool(mine)
        self._seat = _seat_index(mine[0]) if mine else None
        if seated != self.speaking:
            await self._offer(seated)

    _seat: int | None = None

    async def close(self) -> None:
        if self.media is not None:
            await self.media.close()
            self.media = None
        await self.recorder.stop()
        if self.record is not None:
            self.recorder.save_wav(self.record)


def _seat_index(seat: Any) -> int | None:
    if isinstance(seat, dict) and isinstance(seat.get("index"), int):
        return int(seat["index"])
    return None
