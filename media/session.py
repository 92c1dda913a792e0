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
import logging
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from audio.constants import FRAME_SAMPLES, FRAME_SECONDS
from audio.levels import SpeakingDetector, TalkerTracker
from audio.mixer import Mixer, Pcm
from audio.opus import OpusEncoder, OpusError, output_encoder
from media.background import cancel_and_wait
from media.clock import Deadlines
from media.inbound import LEVEL_RING, Inbound
from media.props import PropsMix
from media.rtp import ntp_now
from media.sender import DirectSender
from media.session_wiring import SessionWiring
from media.tracks import Outgoing

log = logging.getLogger(__name__)

TICK_SECONDS = FRAME_SECONDS
# A tick that starts this much after its deadline counts as late.
LATE_SECONDS = 0.005

# A packet whose RFC 6464 level says -80 dBov or quieter (a muted or idle microphone; 127 is
# digital silence) adds nothing audible to a mix: it is not decoded (but for the first after
# sound, which ends that sound). Browsers and aiortc
# send this level with every packet; packets without it are always decoded.
SILENT_DBOV = 80
# A room where nobody made a sound (every speaker silent, muted or gone) for this many ticks
# sends everyone the encoder's last packet of silence again instead of encoding silence
# anew: the tail of the last sound has left the encoder's overlap by then, and an idle room
# (most rooms, most of the time) costs its fan-out only.
SILENT_TAIL_TICKS = 3


LevelsCallback = Callable[[str, dict[str, float]], Any]


class RoomMixSession(SessionWiring):
    """A room's mix on this node: inputs from speakers, one output per listener (the wiring:
    media/session_wiring.py)."""

    def __init__(
        self,
        room_id: str,
        *,
        on_levels: LevelsCallback | None = None,
        tick_seconds: float = TICK_SECONDS,
    ) -> None:
        super().__init__(room_id)
        self.on_levels = on_levels
        self.tick_seconds = tick_seconds
        self.mixer = Mixer()
        # Voice effects, sounds and music (media.props; the engine sets it).
        self.props: PropsMix | None = None
        self.detector = SpeakingDetector()
        # The non-zero levels last reported through on_levels (for late joiners).
        self._speaking: dict[str, float] = {}
        self.talkers = TalkerTracker()
        self._full_encoder = output_encoder()
        self._encoders: dict[str, OpusEncoder] = {}
        # Ticks in a row whose mix was silence (no frame from anyone), and the packet the
        # encoder made of the last of them: see SILENT_TAIL_TICKS.
        self._silent_run = 0
        self._silent_payload = b""
        self._task: asyncio.Task[None] | None = None

    def speaking_levels(self) -> dict[str, float]:
        """Who is speaking now, at the level last reported (the `speaking` event's values)."""
        return dict(self._speaking)

    def _forget_speaker(self, user: str) -> None:
        """A speaker no longer heard: the mix lets go of their encoder and state."""
        self._encoders.pop(user, None)
        self.mixer.remove(user)
        self.talkers.remove([user])

    # --- the clock ---------------------------------------------------------------------------

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.ensure_future(self._run())
            self._task.set_name(f"room-media-{self.room_id}")

    def pause(self) -> None:
        """Stop the clock, keep the wiring: `start` resumes it (the engine pauses a room
        whose peers are none of them connected)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()  # lands in the clock's sleep: a tick is never cut in half

    async def stop(self) -> None:
        task, self._task = self._task, None
        await cancel_and_wait(task)
        for track in list(self.outputs.values()):
            track.stop()
        if self.props is not None:
            self.props.close()
        self.fanout.close()
        self.taps.end()

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def _run(self) -> None:
        period = self.tick_seconds
        clock = Deadlines(period)
        while True:
            behind, skip = await clock.wait()
            if skip:
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
            self.stats.tick_seconds.observe(took)
            if took > self.stats.max_tick_seconds:
                self.stats.max_tick_seconds = took
            if took > period:
                self.stats.overruns += 1
            clock.advance()

    def _drop_skipped(self, skip: int) -> None:
        """The audio of skipped ticks is gone: play it out of the jitter buffers unheard,
        so they stay in step with the clock instead of holding that much more delay."""
        for inbound in self.inputs.values():
            for _ in range(min(skip, inbound.jitter.max_frames)):
                out = inbound.jitter.pop()
                if out.payload is not None and self.probe is not None:
                    self.probe.discard(out.payload)

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
        props = self.props
        if props is not None:
            props.before_mix(frames, self.heard)  # speakers' effects; sounds and music
        result = self.mixer.mix(frames, minus_keys=())
        levels = result.levels if props is None else props.after_mix(result.levels)
        changes = self.detector.update(levels)
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
        talkers = [u for u in self.talkers.update(levels) if u in outputs]
        if not outputs and not self.taps:
            stats.talkers_last_tick = len(talkers)
            stats.encodes_last_tick = 0
            return
        encodes = self._encode_and_send(tick_no, result.full, talkers, bool(frames))
        if self.probe is not None:
            self.probe.sent(tick_no)
        stats.encodes += encodes
        stats.packets_sent += len(outputs)
        stats.talkers_last_tick = len(talkers)
        stats.encodes_last_tick = encodes

    def _encode_and_send(self, tick_no: int, full: Pcm, talkers: list[str],
                         sound: bool) -> int:
        """Encode the full mix once (and each talker's mix-minus), send it to every output;
        returns the encodes done. ``sound``: some speaker's frame is in the mix."""
        stats = self.stats
        pts = tick_no * FRAME_SAMPLES
        ntp = ntp_now()
        cpu = time.thread_time()
        encodes = 1
        if sound:
            self._silent_run = 0
            payload = self._full_encoder.encode(full)
        elif self._silent_run >= SILENT_TAIL_TICKS:
            payload = self._silent_payload  # nobody has made a sound for a while
            encodes = 0
        else:
            self._silent_run += 1
            payload = self._silent_payload = self._full_encoder.encode(full)
        shared = Outgoing(payload, pts, ntp)
        own: dict[str, Outgoing] = {}
        if talkers:
            for user, pcm in self.mixer.minus_for(talkers).items():
                own[user] = Outgoing(self._encoder(user).encode(pcm), pts, ntp)
                encodes += 1
        sending = time.thread_time()
        stats.encode_cpu_seconds += sending - cpu
        if self.taps:
            self.taps.mixed(tick_no, payload)
        self._send(shared, own)
        sent = time.thread_time() - sending
        stats.send_cpu_seconds += sent
        stats.send_seconds.observe(sent)
        return encodes

    def _send(self, shared: Outgoing, own: dict[str, Outgoing]) -> None:
        """The shared packet to every WebRTC listener in one batch (media/fanout.py), a
        talker's own mix-minus to them; other kinds of output send for themselves."""
        direct_own: dict[DirectSender, Outgoing] = {}
        for user, out in own.items():
            output = self.outputs.get(user)
            if isinstance(output, DirectSender):
                direct_own[output] = out
        self.fanout.send(shared.payload, shared.pts, shared.ntp, direct_own)
        for user, other in self._other_outputs.items():
            other.deliver(own.get(user, shared))

    def _encoder(self, user: str) -> OpusEncoder:
        encoder = self._encoders.get(user)
        if encoder is None:
            encoder = self._encoders[user] = output_encoder()
        return encoder

    def _next_frame(self, inbound: Inbound, tick_no: int) -> Pcm | None:
        out = inbound.jitter.pop()
        kind = out.kind
        stats = self.stats
        if kind == "frame":
            assert out.payload is not None and out.seq is not None
            level = inbound.levels[out.seq % LEVEL_RING]
            silent = level is not None and level >= SILENT_DBOV
            if silent and not inbound.sounding:
                stats.silent_skipped += 1
                if self.probe is not None:
                    self.probe.discard(out.payload)
                return None
            # The first silent packet after sound is decoded: it carries the end of the last
            # sound (cut, it would end in a click).
            inbound.sounding = not silent
            if self.probe is not None:
                self.probe.mixed(tick_no, out.payload)
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
            inbound.sounding = True
        elif kind == "plc":
            stats.concealed += 1
            pcm = inbound.decoder.conceal()
            inbound.sounding = True
        else:
            stats.silent += 1
            inbound.sounding = False
            return None
        if pcm.shape != (FRAME_SAMPLES,):
            pcm = np.resize(pcm, FRAME_SAMPLES).astype(np.int16)
        return pcm
