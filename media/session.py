"""One room's media: the 20 ms clock, per-speaker jitter buffers and decoders, the mixer,
encode-once fan-out.

Per tick: pop each heard speaker's jitter buffer (frame / FEC / PLC / silence), mix, encode
the full mix once and hand that one packet to every listener and every speaker who is not
talking; each talker gets an encode of their own mix-minus. Encodes per tick = talkers + 1.

The clock runs on absolute deadlines from ``loop.time()``: it never drifts and never waits
for anyone's audio; a speaker whose packets are late or gone is concealed, then silent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import Any, Literal, Protocol

import numpy as np
from aiortc import RTCRtpTransceiver
from aiortc.mediastreams import MediaStreamTrack

from audio.constants import FRAME_SAMPLES
from audio.jitter import JitterBuffer
from audio.levels import SpeakingDetector, TalkerTracker
from audio.mixer import Mixer, Pcm
from audio.opus import OpusDecoder, OpusEncoder, OpusError
from media.rtc import (
    DirectSender,
    IdleTrack,
    Outgoing,
    PacketTrack,
    PayloadSink,
    Staged,
    ntp_now,
    send_staged,
)

log = logging.getLogger(__name__)

TICK_SECONDS = 0.020
# Further behind than this, the clock skips ticks instead of racing to catch up: a burst of
# back-to-back ticks would only flood listeners' (bounded) queues.
MAX_BEHIND_TICKS = 5
# A tick that starts this much after its deadline counts as late.
LATE_SECONDS = 0.005

# A packet whose RFC 6464 level says -80 dBov or quieter (a muted or idle microphone; 127 is
# digital silence) adds nothing audible to a mix: it is not decoded. Browsers and aiortc
# send this level with every packet; packets without it are always decoded.
SILENT_DBOV = 80
LEVEL_RING = 64  # levels kept by sequence number, for the packets in the jitter buffer
# A room where nobody made a sound (every speaker silent, muted or gone) for this many ticks
# sends everyone the encoder's last packet of silence again instead of encoding silence
# anew: the tail of the last sound has left the encoder's overlap by then, and an idle room
# (most rooms, most of the time) costs its fan-out only.
SILENT_TAIL_TICKS = 3

# The room's outbound streams: at 32 kb/s Opus, a mix of two tones already has coding noise
# only ~30 dB down between them; 64 kb/s mono keeps it ~50 dB down (music rooms gain too)
# for a few per cent more encode time.
OUTPUT_BITRATE = 64_000
# CELT-only (signal "music", no in-band FEC) at complexity 7: about half the CPU of the
# hybrid SILK + CELT encode libopus picks for voip at 64 kb/s (complexity 5, FEC), with less
# coding noise between two tones (40 dB against 36; complexity 5-6 CELT: 32 dB). Encodes are
# most of a room's tick (docs/benchmarks.md). The price: no in-band FEC (a SILK-layer
# feature) in what listeners receive; their decoders conceal a lost packet instead.
OUTPUT_SIGNAL = "music"
OUTPUT_FEC = False
OUTPUT_COMPLEXITY = 7


def output_encoder() -> OpusEncoder:
    """An encoder for one of the room's outbound streams (full mix or a mix-minus)."""
    return OpusEncoder(
        bitrate=OUTPUT_BITRATE, complexity=OUTPUT_COMPLEXITY, fec=OUTPUT_FEC, signal=OUTPUT_SIGNAL
    )

# "direct": DirectSender per listener (RTP header + SRTP + sendto in the tick);
# "track": a PacketTrack per listener, packetized by aiortc's own RTCRtpSender (3x the CPU
# per listener, no private sender internals; kept for comparison in bench/fanout.py).
SendMode = Literal["direct", "track"]
DEFAULT_SEND_MODE: SendMode = "direct"


class Output(Protocol):
    """One listener's outbound stream."""

    def deliver(self, out: Outgoing) -> None: ...

    def stop(self) -> None: ...


LevelsCallback = Callable[[str, dict[str, float]], Any]


@dataclass
class SessionStats:
    ticks: int = 0
    late_ticks: int = 0  # started more than LATE_SECONDS after the deadline
    overruns: int = 0  # took longer than a tick
    skipped_ticks: int = 0  # dropped to catch up after falling far behind
    tick_errors: int = 0
    encodes: int = 0
    packets_sent: int = 0  # packets handed to listeners' tracks
    max_tick_seconds: float = 0.0
    tick_seconds_total: float = 0.0  # wall time in ticks
    # Thread CPU time (user + system) in the tick's encodes and in its fan-out loop.
    encode_cpu_seconds: float = 0.0
    send_cpu_seconds: float = 0.0
    decoded: int = 0
    silent_skipped: int = 0  # packets marked silent by their RFC 6464 level: not decoded
    fec: int = 0
    concealed: int = 0
    silent: int = 0
    bad_packets: int = 0
    rtp_in: int = 0
    rtp_dropped_unheard: int = 0  # from members who are not speakers: never decoded
    talkers_last_tick: int = 0
    encodes_last_tick: int = 0

    def as_dict(self) -> dict[str, float]:
        return {k: float(v) for k, v in asdict(self).items()}


class LatencyTrace:
    """Timestamps from a speaker's packet arriving to the first outbound packet carrying it.

    Off by default; benchmarks switch it on with ``session.trace = LatencyTrace()``.
    """

    def __init__(self, limit: int = 100_000) -> None:
        self._arrived: dict[int, tuple[bytes, float]] = {}
        self._pending: dict[int, list[float]] = {}
        self.samples: list[float] = []
        self.buffered: list[float] = []  # of which: arrival -> taken from the jitter buffer
        self._limit = limit
        self._calls = 0

    def arrived(self, payload: bytes) -> None:
        self._arrived[id(payload)] = (payload, time.perf_counter())

    def mixed(self, tick: int, payload: bytes) -> None:
        entry = self._arrived.pop(id(payload), None)
        if entry is not None and entry[0] is payload:
            self._pending.setdefault(tick, []).append(entry[1])
            if len(self.buffered) < self._limit:
                self.buffered.append(time.perf_counter() - entry[1])

    def discard(self, payload: bytes) -> None:
        self._arrived.pop(id(payload), None)

    def sent(self, tick: int) -> None:
        arrivals = self._pending.pop(tick, None)
        now = time.perf_counter()
        if arrivals and len(self.samples) < self._limit:
            self.samples.extend(now - t for t in arrivals)
        self._calls += 1
        if self._calls % 50 == 0:
            # Packets the jitter buffer dropped (late, skipped) never get mixed: forget them.
            for key in [k for k, (_, t) in self._arrived.items() if now - t > 2.0]:
                del self._arrived[key]
            for old in [t for t in self._pending if t < tick - 50]:
                del self._pending[old]


class Inbound:
    """One speaker's incoming audio on one peer connection (a re-offer makes a new one)."""

    __slots__ = ("active", "decoder", "jitter", "levels", "user")

    def __init__(self, user: str) -> None:
        self.user = user
        self.jitter = JitterBuffer()
        self.decoder = OpusDecoder()
        # RFC 6464 level (-dBov) of the packet with sequence number seq, at seq % LEVEL_RING.
        self.levels: list[int | None] = [None] * LEVEL_RING
        self.active = True

    def reset(self) -> None:
        self.jitter = JitterBuffer()
        self.decoder = OpusDecoder()


class RoomSession:
    def __init__(
        self,
        room_id: str,
        *,
        on_levels: LevelsCallback | None = None,
        tick_seconds: float = TICK_SECONDS,
        send_mode: SendMode = DEFAULT_SEND_MODE,
        encode_once: bool = True,
    ) -> None:
        self.room_id = room_id
        self.send_mode = send_mode
        # False: the Janus-style baseline, an encode per listener (bench/fanout.py only).
        self.encode_once = encode_once
        self.on_levels = on_levels
        self.tick_seconds = tick_seconds
        self.stats = SessionStats()
        self.trace: LatencyTrace | None = None
        self.heard: set[str] = set()
        self.inputs: dict[str, Inbound] = {}
        self.outputs: dict[str, Output] = {}
        self.mixer = Mixer()
        self.detector = SpeakingDetector()
        # The non-zero levels last reported through on_levels (for late joiners).
        self._speaking: dict[str, float] = {}
        self.talkers = TalkerTracker()
        self._full_encoder = output_encoder()
        self._encoders: dict[str, OpusEncoder] = {}
        self._tick_no = 0
        # Ticks in a row whose mix was silence (no frame from anyone), and the packet the
        # encoder made of the last of them: see SILENT_TAIL_TICKS.
        self._silent_run = 0
        self._silent_payload = b""
        self._task: asyncio.Task[None] | None = None

    def speaking_levels(self) -> dict[str, float]:
        """Who is speaking now, at the level last reported (the `speaking` event's values)."""
        return dict(self._speaking)

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
            if self.trace is not None:
                self.trace.arrived(payload)
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
        """The track to put on a listener's RTP sender (see ``send_mode``)."""
        if self.send_mode == "direct":
            return IdleTrack()
        track = PacketTrack()
        if self.trace is not None:
            track.on_sent = self.trace.sent
        return track

    def make_output(self, track: MediaStreamTrack, transceiver: RTCRtpTransceiver) -> Output:
        """The listener's output once the connection is answered."""
        if isinstance(track, PacketTrack):
            return track
        assert isinstance(track, IdleTrack)
        return DirectSender(transceiver, track)

    def attach_output(self, user: str, output: Output) -> None:
        old = self.outputs.get(user)
        if old is not None and old is not output:
            old.stop()
        self.outputs[user] = output

    def detach_output(self, user: str, output: Output) -> None:
        output.stop()
        if self.outputs.get(user) is output:
            del self.outputs[user]
            if not self.encode_once:
                self._encoders.pop(user, None)

    def _forget_speaker(self, user: str) -> None:
        self._encoders.pop(user, None)
        self.mixer.remove(user)
        self.talkers.remove([user])

    @property
    def empty(self) -> bool:
        return not self.inputs and not self.outputs

    # --- the clock ---------------------------------------------------------------------------

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.ensure_future(self._run())
            self._task.set_name(f"room-media-{self.room_id}")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for track in list(self.outputs.values()):
            track.stop()

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        period = self.tick_seconds
        deadline = loop.time()
        while True:
            now = loop.time()
            if deadline > now:
                await asyncio.sleep(deadline - now)
                now = loop.time()
            behind = now - deadline
            if behind > MAX_BEHIND_TICKS * period:
                skip = int(behind / period)
                deadline += skip * period
                self._tick_no += skip
                self.stats.skipped_ticks += skip
                self._drop_skipped(skip)
            if behind > LATE_SECONDS:
                self.stats.late_ticks += 1
            started = time.perf_counter()
            try:
                self.tick()
            except Exception:
                # One bad frame must not stop the room's audio.
                self.stats.tick_errors += 1
                log.exception("room %s: media tick failed", self.room_id)
            took = time.perf_counter() - started
            self.stats.tick_seconds_total += took
            if took > self.stats.max_tick_seconds:
                self.stats.max_tick_seconds = took
            if took > period:
                self.stats.overruns += 1
            deadline += period

    def _drop_skipped(self, skip: int) -> None:
        """The audio of skipped ticks is gone: play it out of the jitter buffers unheard,
        so they stay in step with the clock instead of holding that much more delay."""
        for inbound in self.inputs.values():
            for _ in range(min(skip, inbound.jitter.max_frames)):
                out = inbound.jitter.pop()
                if out.payload is not None and self.trace is not None:
                    self.trace.discard(out.payload)

    def tick(self) -> None:
        """Mix and send one 20 ms frame."""
        stats = self.stats
        stats.ticks += 1
        tick_no = self._tick_no
        self._tick_no += 1
        frames: dict[str, Pcm] = {}
        for user in self.heard:
            inbound = self.inputs.get(user)
            if inbound is None:
                continue
            pcm = self._next_frame(inbound, tick_no)
            if pcm is not None:
                frames[user] = pcm
        result = self.mixer.mix(frames, minus_keys=())
        changes = self.detector.update(result.levels)
        for user, level in changes.items():
            if level > 0.0:
                self._speaking[user] = level
            else:
                self._speaking.pop(user, None)
        if changes and self.on_levels is not None:
            try:
                self.on_levels(self.room_id, changes)
            except Exception:
                log.exception("room %s: on_levels failed", self.room_id)
        outputs = self.outputs
        # Only a talker who also listens needs a stream of their own.
        talkers = [u for u in self.talkers.update(result.levels) if u in outputs]
        if not outputs:
            stats.talkers_last_tick = len(talkers)
            stats.encodes_last_tick = 0
            return
        pts = tick_no * FRAME_SAMPLES
        ntp = ntp_now()
        if not self.encode_once:
            encodes = self._encode_per_listener(tick_no, pts, ntp, result.full, talkers)
        else:
            cpu = time.thread_time()
            encodes = 1
            if frames:
                self._silent_run = 0
                payload = self._full_encoder.encode(result.full)
            elif self._silent_run >= SILENT_TAIL_TICKS:
                payload = self._silent_payload  # nobody has made a sound for a while
                encodes = 0
            else:
                self._silent_run += 1
                payload = self._silent_payload = self._full_encoder.encode(result.full)
            shared = Outgoing(tick_no, payload, pts, ntp)
            own: dict[str, Outgoing] = {}
            if talkers:
                for user, pcm in self.mixer.minus_for(talkers).items():
                    own[user] = Outgoing(tick_no, self._encoder(user).encode(pcm), pts, ntp)
                    encodes += 1
            sending = time.thread_time()
            stats.encode_cpu_seconds += sending - cpu
            if self.send_mode == "direct":
                self._send_direct(shared, own)
            elif own:
                for user, output in outputs.items():
                    output.deliver(own.get(user, shared))
            else:
                for output in outputs.values():
                    output.deliver(shared)
            stats.send_cpu_seconds += time.thread_time() - sending
        if self.trace is not None and self.send_mode == "direct":
            self.trace.sent(tick_no)
        stats.encodes += encodes
        stats.packets_sent += len(outputs)
        stats.talkers_last_tick = len(talkers)
        stats.encodes_last_tick = encodes

    def _send_direct(self, shared: Outgoing, own: dict[str, Outgoing]) -> None:
        """Every listener's packet staged (header + SRTP), then all sent: the system calls
        back to back rather than between each listener's Python."""
        staged: list[Staged] = []
        add = staged.append
        payload, pts, ntp = shared.payload, shared.pts, shared.ntp
        for user, output in self.outputs.items():
            if not isinstance(output, DirectSender):  # not in direct mode's sessions
                output.deliver(own.get(user, shared))
                continue
            out = own.get(user) if own else None
            item = (output.stage(payload, pts, ntp) if out is None
                    else output.stage(out.payload, out.pts, out.ntp))
            if item is not None:
                add(item)
        send_staged(staged)

    def _encoder(self, user: str) -> OpusEncoder:
        encoder = self._encoders.get(user)
        if encoder is None:
            encoder = self._encoders[user] = output_encoder()
        return encoder

    def _encode_per_listener(
        self, tick_no: int, pts: int, ntp: int, full: Pcm, talkers: list[str]
    ) -> int:
        minus = self.mixer.minus_for(talkers) if talkers else {}
        for user, output in self.outputs.items():
            pcm = minus.get(user, full)
            output.deliver(Outgoing(tick_no, self._encoder(user).encode(pcm), pts, ntp))
        return len(self.outputs)

    def _next_frame(self, inbound: Inbound, tick_no: int) -> Pcm | None:
        out = inbound.jitter.pop()
        kind = out.kind
        stats = self.stats
        if kind == "frame":
            assert out.payload is not None and out.seq is not None
            level = inbound.levels[out.seq % LEVEL_RING]
            if level is not None and level >= SILENT_DBOV:
                stats.silent_skipped += 1
                if self.trace is not None:
                    self.trace.discard(out.payload)
                return None
            if self.trace is not None:
                self.trace.mixed(tick_no, out.payload)
            stats.decoded += 1
            try:
                pcm = inbound.decoder.decode(out.payload)
            except OpusError:
                # A corrupt (or not 20 ms) packet from a client: conceal it, keep going.
                stats.bad_packets += 1
                pcm = inbound.decoder.conceal()
        elif kind == "fec":
            assert out.payload is not None
            stats.fec += 1
            pcm = inbound.decoder.decode_fec(out.payload)
        elif kind == "plc":
            stats.concealed += 1
            pcm = inbound.decoder.conceal()
        else:
            stats.silent += 1
            return None
        if pcm.shape != (FRAME_SAMPLES,):
            pcm = np.resize(pcm, FRAME_SAMPLES).astype(np.int16)
        return pcm
