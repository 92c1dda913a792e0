"""A call's audio relayed without decoding: one party's Opus payloads, taken before aiortc's
jitter buffer, sent on to the other party as they arrive.

Each leg keeps its own SSRC, sequence numbers and timestamps (a ``RelayOut``): the source's
numbers are mapped by offsets fixed when a new run starts (the first packet, a re-offer of the
source, a switch between the forwarded and the decoded path), so the receiver sees one
continuous stream whatever happens upstream, while losses and reordering upstream stay visible
to it as gaps, as they would be end to end. Nothing is queued or paced here: a packet goes out
in the same datagram callback that received it.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Protocol

from audio.constants import FRAME_SAMPLES, SAMPLE_RATE
from media.rtp import AudioRtp, audio_level_extension, parse_audio

NTP_EPOCH_OFFSET = 2_208_988_800  # seconds from 1900 (NTP) to 1970 (Unix)
# A new run's first timestamp follows the last one by the wall-clock time between them, at
# least one frame: the receiver's jitter buffer reads a pause, not a jump back.
MIN_STEP = FRAME_SAMPLES
MAX_STEPS = 3000  # a minute of frames
# (vad, -dBov) of RFC 6464, as aiortc parses it
Level = tuple[bool, int] | None
# (sequence number, timestamp, SSRC, Opus payload, level): one packet of a party's audio
AudioSink = Callable[[int, int, int, bytes, Level], None]


def ntp_time() -> int:
    """Now as a 64-bit NTP timestamp; 5x cheaper than aiortc's datetime-based clock, and
    taken for every relayed packet (RTCP sender reports pair it with the RTP timestamp)."""
    return int((time.time() + NTP_EPOCH_OFFSET) * 4294967296.0) & 0xFFFFFFFFFFFFFFFF


class AudioSend(Protocol):
    """Sends a leg's audio packets: media.sender.DirectSender (bench/calls_media_server.py
    compares aiortc's own RTCRtpSender)."""

    def send_at(self, payload: bytes, seq: int, timestamp: int, ntp: int,
                extension: bytes = b"") -> bool: ...

    def stop(self) -> None: ...


class RelayOut:
    """One party's outbound call audio: the other party's packets forwarded (``forward``), or
    packets the decoded path encoded (``send_next``), through a DirectSender."""

    __slots__ = ("_extensions", "_last_seq", "_last_time", "_last_ts", "_level_id", "_run",
                 "_seq_off", "_source", "_ts_off", "sender", "sent")

    def __init__(self, sender: AudioSend, level_id: int | None) -> None:
        self.sender = sender
        self._level_id = level_id  # this leg's id of the audio-level extension
        self._extensions: dict[tuple[bool, int], bytes] = {}  # by level: built once
        self._source: int | None = None  # the SSRC the offsets were fixed for
        self._run = False  # False: the next packet starts a new run
        self._seq_off = 0
        self._ts_off = 0
        # The last packet sent: the next run continues from it.
        self._last_seq: int | None = None
        self._last_ts = 0
        self._last_time = 0.0
        self.sent = 0

    def restart(self) -> None:
        """The next packet starts a new run (its source or path changed)."""
        self._run = False

    def forward(self, seq: int, timestamp: int, ssrc: int, payload: bytes, level: Level) -> bool:
        """Send the other party's packet on this leg; False: not sent (not connected yet)."""
        if not self._run or ssrc != self._source:
            first_seq, first_ts = self._next_run()
            self._seq_off = (first_seq - seq) & 0xFFFF
            self._ts_off = (first_ts - timestamp) & 0xFFFFFFFF
            self._source = ssrc
            self._run = True
        out_seq = (seq + self._seq_off) & 0xFFFF
        out_ts = (timestamp + self._ts_off) & 0xFFFFFFFF
        return self._send(payload, out_seq, out_ts, level)

    def send_next(self, payload: bytes, level: Level) -> bool:
        """Send a packet of the decoded path: the next 20 ms after the last one sent."""
        last = self._last_seq
        if not self._run or self._source is not None or last is None:
            seq, timestamp = self._next_run()
            self._source = None
            self._run = True
        else:
            seq = (last + 1) & 0xFFFF
            timestamp = (self._last_ts + FRAME_SAMPLES) & 0xFFFFFFFF
        return self._send(payload, seq, timestamp, level)

    def stop(self) -> None:
        self.sender.stop()

    # --- internals -------------------------------------------------------------------------

    def _send(self, payload: bytes, seq: int, timestamp: int, level: Level) -> bool:
        extension = b""
        if level is not None and self._level_id is not None:
            extension = self._extensions.get(level) or self._extension(level)
        now = time.time()
        ntp = int((now + NTP_EPOCH_OFFSET) * 4294967296.0) & 0xFFFFFFFFFFFFFFFF
        if not self.sender.send_at(payload, seq, timestamp, ntp, extension):
            return False
        self.sent += 1
        last = self._last_seq
        if last is None or 0 < (seq - last) & 0xFFFF < 0x8000:  # a late one moves nothing back
            self._last_seq = seq
            self._last_ts = timestamp
            self._last_time = now
        return True

    def _extension(self, level: tuple[bool, int]) -> bytes:
        assert self._level_id is not None
        block = audio_level_extension(self._level_id, level[1], level[0])
        if len(self._extensions) < 256:  # (vad, 0..127): never more
            self._extensions[level] = block
        return block

    def _next_run(self) -> tuple[int, int]:
        """The sequence number and timestamp a new run starts at: right after the last packet
        sent, later by the time that passed (a first run: anywhere, as RFC 3550 asks)."""
        last = self._last_seq
        if last is None:
            return random.randrange(1 << 16), random.randrange(1 << 32)
        gap = time.time() - self._last_time  # (wall clock: bounded, should it step)
        steps = min(MAX_STEPS, max(1, round(gap * SAMPLE_RATE / FRAME_SAMPLES)))
        return (last + 1) & 0xFFFF, (self._last_ts + steps * MIN_STEP) & 0xFFFFFFFF


class AudioTarget(Protocol):
    """Where a party's audio goes: the forwarding direction (``AudioDirection``)."""

    def on_audio(self, seq: int, timestamp: int, ssrc: int, payload: bytes,
                 level: Level) -> None: ...


class AudioIn:
    """One leg's inbound audio, parsed: the raw-packet callback of media.inbound.hook_rtp, and
    the sink of aiortc's own receive path (``media.call_peer``). Dead once the leg is replaced
    or closed: a replaced connection's late packets go nowhere."""

    __slots__ = ("level_id", "live", "pt", "target")

    def __init__(self, target: AudioTarget) -> None:
        self.target = target
        self.pt: int | None = None  # the negotiated Opus payload type, once answered
        self.level_id: int | None = None
        self.live = True

    def packet(self, packet: bytes) -> None:
        """An unprotected RTP packet from the ICE socket's callback."""
        if not self.live:
            return
        parsed: AudioRtp | None = parse_audio(packet, self.pt, self.level_id)
        if parsed is not None:
            self.target.on_audio(*parsed)

    def fields(self, seq: int, timestamp: int, ssrc: int, payload: bytes, level: Level) -> None:
        if self.live and payload:
            self.target.on_audio(seq, timestamp, ssrc, payload, level)
