"""The decoded path of a call's audio: used for one direction only while something must be
done to it (a voice effect on the speaking party, a sound mixed in for the listening one).

Per 20 ms tick: the source party's packets out of a jitter buffer of our own (frame, FEC, PLC
or silence; media/inbound.py's Inbound), decoded, through the party's voice transform, summed
with the mix-ins, encoded once and sent as the next packet of the listening party's stream.
The clock (``CallClock``) runs only while a direction of the call is decoded.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Protocol

import numpy as np

from audio.constants import FRAME_SAMPLES, FRAME_SECONDS
from audio.levels import rms_dbfs
from audio.mixer import Pcm
from audio.opus import OpusError, output_encoder
from media.background import cancel_and_wait
from media.clock import Deadlines
from media.inbound import Inbound

log = logging.getLogger(__name__)


class VoiceTransform(Protocol):
    """Something done to a party's voice before the other hears it (a voice effect:
    audio/effects.py's effects fit). Called every tick while set, with silence when the
    party sends nothing, so tails (an echo) play out."""

    def process(self, frame: Pcm) -> Pcm: ...


class MixIn(Protocol):
    """A signal added to what a party hears (a sound): the next 20 ms (FRAME_SAMPLES mono
    int16), or None once it is over (it is then removed)."""

    def read(self) -> Pcm | None: ...


class DecodedPath:
    """One direction of a call on the decoded path."""

    def __init__(self, source: str) -> None:
        self.inbound = Inbound(source)  # jitter buffer and decoder of the source's packets
        self.encoder = output_encoder()
        self.transform: VoiceTransform | None = None
        self.mix_ins: list[MixIn] = []
        self.ticks = 0
        self.bad_packets = 0

    @property
    def needed(self) -> bool:
        return self.transform is not None or bool(self.mix_ins)

    def push(self, seq: int, payload: bytes) -> None:
        self.inbound.jitter.push(seq, payload)

    def next_packet(self) -> tuple[bytes, tuple[bool, int]]:
        """Encode the next 20 ms; returns the packet and its RFC 6464 level (vad, -dBov)."""
        self.ticks += 1
        pcm = self._voice()
        if self.transform is not None:
            try:
                pcm = np.asarray(self.transform.process(pcm), dtype=np.int16).reshape(
                    FRAME_SAMPLES)
            except Exception:
                # A failing effect is dropped (logged once), not retried 50 times a second;
                # the voice goes on as it came.
                log.exception("voice transform %r failed: removed", self.transform)
                self.transform = None
        if self.mix_ins:
            total = pcm.astype(np.int32)
            for mix_in in list(self.mix_ins):
                try:
                    frame = mix_in.read()
                    if frame is not None:
                        total += np.asarray(frame, dtype=np.int32).reshape(FRAME_SAMPLES)
                except Exception:
                    log.exception("mix-in %r failed: removed", mix_in)
                    frame = None
                if frame is None:
                    self.mix_ins.remove(mix_in)
            pcm = np.clip(total, -32768, 32767).astype(np.int16)
        dbov = min(127, max(0, round(-rms_dbfs(pcm))))
        return self.encoder.encode(pcm), (dbov < 127, dbov)

    def _voice(self) -> Pcm:
        inbound = self.inbound
        out = inbound.jitter.pop()
        try:
            if out.kind == "frame":
                assert out.payload is not None
                pcm = inbound.decoder.decode(out.payload)
            elif out.kind == "fec":
                assert out.payload is not None
                pcm = inbound.decoder.decode_fec(out.payload)
            elif out.kind == "plc":
                pcm = inbound.decoder.conceal()
            else:
                return np.zeros(FRAME_SAMPLES, dtype=np.int16)
        except OpusError:
            # A corrupt (or not 20 ms) packet from a client: conceal it, keep going.
            self.bad_packets += 1
            pcm = inbound.decoder.conceal()
        if pcm.shape != (FRAME_SAMPLES,):
            pcm = np.resize(pcm, FRAME_SAMPLES).astype(np.int16)
        return pcm

    def close(self) -> None:
        self.encoder.close()
        self.inbound.decoder.close()


class CallClock:
    """A 20 ms clock (media/clock.py's deadlines) that calls ``tick`` until stopped or
    ``tick`` returns False."""

    def __init__(self, name: str, tick: Callable[[], bool]) -> None:
        self.name = name
        self._tick = tick
        self._task: asyncio.Task[None] | None = None
        self.errors = 0
        self.skipped = 0

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        if not self.running:
            self._task = asyncio.ensure_future(self._run())
            self._task.set_name(f"call-mix-{self.name}")

    async def stop(self) -> None:
        task, self._task = self._task, None
        await cancel_and_wait(task)

    async def _run(self) -> None:
        clock = Deadlines(FRAME_SECONDS)
        while True:
            _, skip = await clock.wait()
            self.skipped += skip
            try:
                if not self._tick():
                    return
            except Exception:
                # One bad frame must not stop the call's audio.
                self.errors += 1
                log.exception("call %s: decoded path tick failed", self.name)
            clock.advance()
