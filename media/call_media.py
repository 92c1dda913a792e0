"""One call's media on this node: each party's connection (a leg; a re-offer replaces it),
their audio to each other (forwarded as it comes, or through the decoded path while something
is mixed in) and, in a video call, their video to each other (forwarded whole frames).

Props plug in here: ``set_voice`` puts a transform on a party's voice (what the other hears),
``mix_in`` adds a signal to what a party hears. Either one switches that direction to the
decoded path (media/call_mix.py) and back to forwarding once nothing is left to do to it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from aiortc import RTCPeerConnection

from calls.model import CallState
from media.call_mix import CallClock, DecodedPath, MixIn, VoiceTransform
from media.call_peer import (
    AudioSenderFactory,
    CallPeer,
    VideoHooks,
    answer_call_offer,
    direct_audio,
)
from media.relay import AudioIn, Level, RelayOut
from media.video import VideoDirection, VideoStats

log = logging.getLogger(__name__)


@dataclass
class CallStats:
    """Node-wide counters of the calls' media (they only ever grow: /metrics counters)."""

    audio_in: int = 0  # packets received from parties
    audio_relayed: int = 0  # forwarded as they came, without decoding
    audio_encoded: int = 0  # encoded and sent by a decoded path
    audio_unsent: int = 0  # nobody to send them to (the other party not connected yet)
    decoded_switches: int = 0  # directions switched to the decoded path
    video: VideoStats = field(default_factory=VideoStats)


class AudioDirection:
    """One party's audio to the other party's current leg."""

    __slots__ = ("decoded", "out", "source", "stats")

    def __init__(self, source: str, stats: CallStats) -> None:
        self.source = source
        self.stats = stats
        self.out: RelayOut | None = None
        self.decoded: DecodedPath | None = None

    def on_audio(self, seq: int, timestamp: int, ssrc: int, payload: bytes,
                 level: Level) -> None:
        stats = self.stats
        stats.audio_in += 1
        decoded = self.decoded
        if decoded is not None:
            decoded.push(seq, payload)
            return
        out = self.out
        if out is not None and out.forward(seq, timestamp, ssrc, payload, level):
            stats.audio_relayed += 1
        else:
            stats.audio_unsent += 1

    def tick(self) -> None:
        """The decoded path's next 20 ms."""
        assert self.decoded is not None
        payload, level = self.decoded.next_packet()
        if self.out is not None and self.out.send_next(payload, level):
            self.stats.audio_encoded += 1

    def set_out(self, out: RelayOut | None) -> None:
        self.out = out

    def decode(self) -> DecodedPath:
        if self.decoded is None:
            self.decoded = DecodedPath(self.source)
            self.stats.decoded_switches += 1
            if self.out is not None:
                self.out.restart()
        return self.decoded

    def forward(self) -> None:
        if self.decoded is not None:
            self.decoded.close()
            self.decoded = None
            if self.out is not None:
                self.out.restart()


class CallLeg:
    """One connection of a party; dead once replaced or closed (its media goes nowhere)."""

    def __init__(self, user: str) -> None:
        self.user = user
        self.live = True
        self.peer: CallPeer | None = None
        # Closes the leg unless it connects in time (CallMedia's connect_timeout).
        self.deadline: asyncio.TimerHandle | None = None

    def stop_deadline(self) -> None:
        if self.deadline is not None:
            self.deadline.cancel()
            self.deadline = None


class CallMedia:
    """The media of one active call."""

    def __init__(
        self,
        call: CallState,
        stats: CallStats,
        *,
        announce_address: str | None = None,
        background: Callable[[asyncio.Future[None]], None] | None = None,
        audio_sender: AudioSenderFactory = direct_audio,
        connect_timeout: float | None = None,
    ) -> None:
        self.id = call.id
        self.users: tuple[str, str] = call.users
        self.video = call.video
        self.stats = stats
        self.announce_address = announce_address
        self.audio_sender = audio_sender
        # A leg answered but not connected within this many seconds is closed: it must not
        # hold its ICE sockets for the rest of the call (None: no bound).
        self.connect_timeout = connect_timeout
        # Hands the engine closings to finish (and wait for at its own close).
        self._background = background or (lambda task: None)
        self.legs: dict[str, CallLeg] = {}
        self.audio = {user: AudioDirection(user, stats) for user in self.users}
        self.videos: dict[str, VideoDirection] = (
            {user: VideoDirection(stats.video) for user in self.users} if call.video else {}
        )
        self.clock = CallClock(call.id, self._tick)
        self.answering = 0  # offers being answered
        self.ended = False

    def other(self, user: str) -> str:
        """The other party; ValueError for someone who is not a party."""
        if user == self.users[0]:
            return self.users[1]
        if user == self.users[1]:
            return self.users[0]
        raise ValueError(f"{user!r} is not a party to call {self.id}")

    # --- signaling -------------------------------------------------------------------------

    async def offer(self, user: str, sdp: str) -> str | None:
        """Answer ``user``'s offer; None if the call ended meanwhile. ValueError: bad SDP."""
        leg = CallLeg(user)
        video: VideoHooks | None = None
        if self.video:
            mine, theirs = self.videos[user], self.videos[self.other(user)]

            def on_frame(data: bytes, timestamp: int, ssrc: int, keyframe: bool) -> None:
                if leg.live:
                    mine.on_frame(data, timestamp, ssrc, keyframe)

            def on_loss() -> None:
                if leg.live:
                    mine.on_loss()

            video = VideoHooks(on_frame, on_loss, theirs.keyframe_wanted, theirs.request_keyframe)
        self.answering += 1
        try:
            peer, answer = await answer_call_offer(
                sdp,
                audio_in=AudioIn(self.audio[user]),
                video=video,
                announce_address=self.announce_address,
                on_state=lambda pc: self._state_changed(leg, pc),
                audio_sender=self.audio_sender,
            )
        finally:
            self.answering -= 1
        leg.peer = peer
        if self.ended:
            leg.live = False
            await peer.close()
            return None
        self._attach(leg)
        if self.connect_timeout is not None and peer.pc.connectionState != "connected":
            leg.deadline = asyncio.get_running_loop().call_later(
                self.connect_timeout, self._not_connected, leg)
        return answer

    def close(self) -> None:
        """End: every leg cut at once, connections closed in the background."""
        self.ended = True
        for leg in list(self.legs.values()):
            self._detach(leg)
        for direction in self.audio.values():
            direction.forward()
            direction.set_out(None)
        for video in self.videos.values():
            video.close()
        self._background(asyncio.ensure_future(self.clock.stop()))

    # --- props -----------------------------------------------------------------------------

    def set_voice(self, user: str, transform: VoiceTransform | None) -> None:
        """What is done to ``user``'s voice before the other party hears it (None: nothing).
        ValueError for someone who is not a party."""
        self.other(user)
        direction = self.audio[user]
        if transform is not None:
            direction.decode().transform = transform
        elif direction.decoded is not None:
            direction.decoded.transform = None
        self._settle()

    def mix_in(self, user: str, source: MixIn) -> None:
        """Add ``source`` to what ``user`` hears until it ends (one reader per listener:
        a sound both parties hear is two sources). ValueError for someone who is not a
        party."""
        if not self.ended:
            self.audio[self.other(user)].decode().mix_ins.append(source)
            self._settle()

    def stop_mix_in(self, user: str, source: MixIn) -> None:
        decoded = self.audio[self.other(user)].decoded
        if decoded is not None and source in decoded.mix_ins:
            decoded.mix_ins.remove(source)
        self._settle()

    def decoded(self, user: str) -> bool:
        """Whether what ``user`` says goes through the decoded path now."""
        return self.audio[user].decoded is not None

    # --- internals -------------------------------------------------------------------------

    def _settle(self) -> None:
        """Directions with nothing to mix go back to forwarding; the clock runs while any
        direction is decoded."""
        busy = False
        for direction in self.audio.values():
            if direction.decoded is not None and not direction.decoded.needed:
                direction.forward()
            busy = busy or direction.decoded is not None
        if busy and not self.ended:
            self.clock.start()

    def _tick(self) -> bool:
        for direction in self.audio.values():
            if direction.decoded is not None:
                direction.tick()
        self._settle()
        return any(d.decoded is not None for d in self.audio.values())

    def _attach(self, leg: CallLeg) -> None:
        old = self.legs.get(leg.user)
        if old is not None:
            self._detach(old)
        peer = leg.peer
        assert peer is not None
        self.legs[leg.user] = leg
        other = self.other(leg.user)
        self.audio[other].set_out(peer.audio_out)
        if self.video:
            self.videos[leg.user].set_source(peer.request_keyframe if peer.sends_video else None)
            self.videos[other].set_out(peer.video_out)

    def _detach(self, leg: CallLeg) -> None:
        """Cut a leg's media at once; its connection is closed in the background."""
        if not leg.live:
            return
        leg.live = False
        leg.stop_deadline()
        if self.legs.get(leg.user) is leg:
            del self.legs[leg.user]
            other = self.other(leg.user)
            self.audio[other].set_out(None)
            if self.video:
                self.videos[leg.user].set_source(None)
                self.videos[other].set_out(None)
        if leg.peer is not None:
            self._background(asyncio.ensure_future(leg.peer.close()))

    def _not_connected(self, leg: CallLeg) -> None:
        leg.deadline = None
        if leg.live and leg.peer is not None and leg.peer.pc.connectionState != "connected":
            log.info("call %s: %s's media connection did not connect in time", self.id,
                     leg.user)
            self._detach(leg)

    def _state_changed(self, leg: CallLeg, pc: RTCPeerConnection) -> None:
        if pc.connectionState == "connected":
            leg.stop_deadline()
        if pc.connectionState in ("failed", "closed") and leg.live and leg.peer is not None:
            log.info("call %s: %s's media connection %s", self.id, leg.user, pc.connectionState)
            self._detach(leg)
