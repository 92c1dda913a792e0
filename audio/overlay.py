"""What a room hears besides its speakers: sounds played once, music with ducking (PURE).

Room format (48 kHz mono int16, 20 ms frames). One `Overlay` per room, asked for its frames
once per tick; each playing sound and the music are separate inputs of the room's mixer, whose
limiter turns loud sums down (nothing here clips).

- Sounds: each plays once from its start to its end, several at a time (at most MAX_SOUNDS:
  a new one beyond that replaces the oldest).
- Music: a track from a given sample on, looping if asked; its gain is the volume times the
  ducking gain, each moved by a one-pole (exponential) ramp computed per sample, so no gain
  change ever steps: a step in gain on a loud sample is a click. `stop` fades out.
- Ducking: while any speaker's level is at or above the speaking threshold (and for a hold
  after), the music is DUCK_DB down.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from audio.constants import FRAME_SAMPLES, SAMPLE_RATE
from audio.levels import SPEAKING_OFF_TICKS, SPEAKING_ON_DBFS, level_from_dbfs

Pcm = npt.NDArray[np.int16]
Gains = npt.NDArray[np.float64]

MAX_SOUNDS: Final = 8
# Tracks stopped or replaced, still fading out (a newer one beyond this cuts the oldest).
MAX_FADING: Final = 2
# The most inputs `Overlay.frames` gives in one tick.
MAX_INPUTS: Final = MAX_SOUNDS + MAX_FADING + 1
DUCK_DB: Final = 10.0
DUCK_GAIN: Final = 10 ** (-DUCK_DB / 20)
# Time constants (63 % of the way): ducking comes in fast so the first words are clear, goes
# out slowly so the music does not pump between words; a volume change is quick but smooth;
# a stopped track fades over a few tens of milliseconds.
DUCK_ATTACK_S: Final = 0.03
DUCK_RELEASE_S: Final = 0.15
VOLUME_S: Final = 0.05
FADE_OUT_S: Final = 0.02
# A fading track is silent (and dropped) once its gain is below this (-80 dB).
SILENT_GAIN: Final = 1e-4
# Voices this loud duck the music (the speaking detector's threshold), for this many ticks
# after the last loud one (its hold: pauses between words do not let the music back up).
DUCK_ON_LEVEL: Final = level_from_dbfs(SPEAKING_ON_DBFS)
DUCK_HOLD_TICKS: Final = SPEAKING_OFF_TICKS


@functools.cache
def _powers(seconds: float) -> Gains:
    """r^1 .. r^FRAME_SAMPLES for a one-pole ramp with this time constant (read-only)."""
    r = math.exp(-1.0 / (seconds * SAMPLE_RATE))
    powers = r ** np.arange(1, FRAME_SAMPLES + 1, dtype=np.float64)
    powers.setflags(write=False)
    return powers


class Ramp:
    """A gain that follows its target exponentially, sample by sample (no steps)."""

    __slots__ = ("target", "value")

    def __init__(self, value: float) -> None:
        self.value = value
        self.target = value

    def frame(self, seconds: float) -> Gains | float:
        """This frame's gain per sample (time constant `seconds`), or one float when settled."""
        if self.value == self.target:
            return self.value
        gains = self.target + (self.value - self.target) * _powers(seconds)
        last = float(gains[-1])
        # Within 0.001 dB of the target (or of silence): settled.
        close = abs(last - self.target) <= 1e-4 * max(abs(self.target), SILENT_GAIN)
        self.value = self.target if close else last
        return gains


class Ducker:
    """Whether speech is on now: any level at or above DUCK_ON_LEVEL, held DUCK_HOLD_TICKS."""

    __slots__ = ("_quiet_ticks",)

    def __init__(self) -> None:
        self._quiet_ticks = DUCK_HOLD_TICKS + 1

    def update(self, levels: Mapping[str, float]) -> bool:
        if any(level >= DUCK_ON_LEVEL for level in levels.values()):
            self._quiet_ticks = 0
        else:
            self._quiet_ticks += 1
        return self.active

    @property
    def active(self) -> bool:
        return self._quiet_ticks <= DUCK_HOLD_TICKS


class Music:
    """One track playing: `next_frame(ducked)` until `done` (ran out, or faded after stop)."""

    def __init__(self, samples: Pcm, *, loop: bool, volume: float, start: int = 0) -> None:
        if samples.ndim != 1 or len(samples) == 0:
            raise ValueError("a track needs at least one sample")
        self._samples = samples
        self.loop = loop
        self._pos = start % len(samples) if loop else min(start, len(samples))
        # Start from silence: a track begun mid-waveform would click at its first sample.
        self._volume = Ramp(0.0)
        self._volume.target = volume
        self._duck = Ramp(1.0)
        self._stopping = False
        self.ran_out = False  # a track that does not loop reached its end

    @property
    def done(self) -> bool:
        return self.ran_out or (self._stopping and self._volume.value <= SILENT_GAIN)

    def set_volume(self, volume: float) -> None:
        if not self._stopping:
            self._volume.target = volume

    def stop(self) -> None:
        """Fade out; `done` once silent."""
        self._stopping = True
        self._volume.target = 0.0

    def next_frame(self, ducked: bool) -> Pcm | None:
        if self.done:
            return None
        chunk = self._take()
        volume = self._volume.frame(FADE_OUT_S if self._stopping else VOLUME_S)
        self._duck.target = DUCK_GAIN if ducked else 1.0
        duck = self._duck.frame(DUCK_ATTACK_S if ducked else DUCK_RELEASE_S)
        y = chunk * volume * duck
        return np.rint(y).astype(np.int16)

    def _take(self) -> npt.NDArray[np.float64]:
        out = np.zeros(FRAME_SAMPLES, dtype=np.float64)
        samples, n = self._samples, len(self._samples)
        filled = 0
        while filled < FRAME_SAMPLES:
            if self._pos >= n:
                if not self.loop:
                    self.ran_out = True
                    break
                self._pos = 0
            take = min(FRAME_SAMPLES - filled, n - self._pos)
            out[filled : filled + take] = samples[self._pos : self._pos + take]
            filled += take
            self._pos += take
        return out


@dataclass(slots=True)
class _Sound:
    samples: Pcm
    pos: int = 0


class Overlay:
    """A room's sounds and music. Per tick: `update_voices(levels)` with the speakers' levels
    of the last mix, then `frames()`: the inputs to add to the next mix."""

    def __init__(self) -> None:
        self._sounds: list[_Sound] = []
        self.music: Music | None = None
        self._fading: list[Music] = []  # stopped or replaced tracks fading out
        self.ducker = Ducker()

    def play_sound(self, samples: Pcm) -> None:
        if len(samples) == 0:
            return
        if len(self._sounds) >= MAX_SOUNDS:
            self._sounds.pop(0)
        self._sounds.append(_Sound(samples))

    def play_music(self, music: Music) -> None:
        self.stop_music()
        self.music = music

    def stop_music(self) -> None:
        if self.music is not None:
            self.music.stop()
            if len(self._fading) >= MAX_FADING:
                self._fading.pop(0)
            self._fading.append(self.music)
            self.music = None

    def update_voices(self, levels: Mapping[str, float]) -> None:
        self.ducker.update(levels)

    @property
    def idle(self) -> bool:
        return not self._sounds and self.music is None and not self._fading

    def frames(self) -> list[Pcm]:
        """This tick's sound and music frames (none when nothing plays)."""
        out: list[Pcm] = []
        for sound in self._sounds:
            chunk = sound.samples[sound.pos : sound.pos + FRAME_SAMPLES]
            sound.pos += FRAME_SAMPLES
            if len(chunk) < FRAME_SAMPLES:
                chunk = np.concatenate((chunk, np.zeros(FRAME_SAMPLES - len(chunk), np.int16)))
            out.append(chunk)
        self._sounds = [s for s in self._sounds if s.pos < len(s.samples)]
        ducked = self.ducker.active
        for track in [*self._fading, self.music]:
            if track is None:
                continue
            frame = track.next_frame(ducked)
            if frame is not None:
                out.append(frame)
        self._fading = [t for t in self._fading if not t.done]
        return out
