"""A room session's wiring: who is heard, the speakers' inbound streams, the listeners'
outputs and the taps, as the engine connects and disconnects them. The clock and the mix
that use them are media/session.py's RoomMixSession.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from aiortc import RTCRtpTransceiver
from aiortc.mediastreams import MediaStreamTrack

from media.fanout import Fanout
from media.inbound import LEVEL_RING, Inbound
from media.rtp import PayloadSink
from media.sender import DirectSender
from media.stats import SessionStats
from media.taps import MixTap, Taps
from media.tracks import IdleTrack, Outgoing


class Output(Protocol):
    """One listener's outbound stream."""

    def deliver(self, out: Outgoing) -> None: ...

    def stop(self) -> None: ...


class Probe(Protocol):
    """Watches payloads through a session (bench/latency.py traces latency with one)."""

    def arrived(self, payload: bytes) -> None: ...

    def mixed(self, tick: int, payload: bytes) -> None: ...

    def discard(self, payload: bytes) -> None: ...

    def sent(self, tick: int) -> None: ...


class SessionWiring:
    """Inputs from speakers, one output per listener, the taps; and the session's figures."""

    def __init__(self, room_id: str) -> None:
        self.room_id = room_id
        self.stats = SessionStats()
        self.probe: Probe | None = None  # off in production
        self.heard: set[str] = set()
        self.inputs: dict[str, Inbound] = {}
        self.outputs: dict[str, Output] = {}
        # The DirectSenders among the outputs, sent to in one batch; and the other outputs.
        self.fanout = Fanout()
        self._other_outputs: dict[str, Output] = {}
        # Consumers of the encoded mix and of speakers' payloads besides the listeners.
        self.taps = Taps(room_id)
        # The clock's tick number: tapped payloads are stamped with it.
        self._tick_no = 0

    # --- wiring (called by the engine) -----------------------------------------------------

    def set_heard(self, users: Iterable[str]) -> None:
        heard = set(users)
        for user in heard - self.heard:
            # Unheard packets were dropped, so the stream has a hole: start it afresh.
            inbound = self.inputs.get(user)
            if inbound is not None:
                inbound.reset()
        for user in self.heard - heard:
            self._forget_speaker(user)
        self.heard = heard

    def new_input(self, user: str) -> tuple[Inbound, PayloadSink]:
        """A fresh inbound stream for ``user`` and the sink its receiver feeds.

        Not attached until ``attach_input``: a re-offer's answer may still fail."""
        inbound = Inbound(user)
        stats = self.stats

        def sink(seq: int, payload: bytes, level: tuple[bool, int] | None) -> None:
            stats.rtp_in += 1
            if not inbound.active or inbound.user not in self.heard:
                stats.rtp_dropped_unheard += 1
                return
            inbound.levels[seq % LEVEL_RING] = level[1] if level is not None else None
            if self.probe is not None:
                self.probe.arrived(payload)
            if self.taps:
                self.taps.received(inbound.user, self._tick_no, seq, payload)
            inbound.jitter.push(seq, payload)

        return inbound, sink

    def attach_input(self, inbound: Inbound) -> None:
        old = self.inputs.get(inbound.user)
        if old is not None and old is not inbound:
            old.active = False
        self.inputs[inbound.user] = inbound

    def detach_input(self, inbound: Inbound) -> None:
        inbound.active = False
        if self.inputs.get(inbound.user) is inbound:
            del self.inputs[inbound.user]
            self._forget_speaker(inbound.user)

    def outbound_track(self) -> MediaStreamTrack:
        """The track to put on a listener's RTP sender: it idles, a DirectSender sends."""
        return IdleTrack()

    def make_output(self, track: MediaStreamTrack, transceiver: RTCRtpTransceiver) -> Output:
        """The listener's output once the connection is answered."""
        assert isinstance(track, IdleTrack)
        return DirectSender(transceiver, track)

    def attach_output(self, user: str, output: Output) -> None:
        old = self.outputs.get(user)
        if old is not None and old is not output:
            self._unwire(user, old)
        self.outputs[user] = output
        if isinstance(output, DirectSender):
            self.fanout.add(output)
        else:
            self._other_outputs[user] = output

    def detach_output(self, user: str, output: Output) -> None:
        self._unwire(user, output)
        if self.outputs.get(user) is output:
            del self.outputs[user]

    def _unwire(self, user: str, output: Output) -> None:
        output.stop()
        if isinstance(output, DirectSender):
            self.fanout.remove(output)
        elif self._other_outputs.get(user) is output:
            del self._other_outputs[user]

    def add_tap(self, tap: MixTap) -> None:
        """Feed ``tap`` every tick from now on: the session encodes the mix while any tap or
        listener is attached. ``stop()`` ends the taps."""
        self.taps.add(tap)

    def remove_tap(self, tap: MixTap) -> None:
        self.taps.remove(tap)

    def _forget_speaker(self, user: str) -> None:
        """A speaker no longer heard or gone: the mix lets go of them (RoomMixSession)."""
