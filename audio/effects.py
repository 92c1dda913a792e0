"""Voice effects on the room format (48 kHz mono int16, 20 ms frames), one per speaker.

Each effect is a small stateful stream: `process(frame)` takes the speaker's next
FRAME_SAMPLES samples and returns as many, with a fixed latency and the state carried
across frames, so frame edges never click. Feed silence frames while a speaker is quiet
for `tail` samples after they stop, or an echo is cut short.

- `pitch_up` / `pitch_down`: every frequency times 3/2 or 2/3, same speed: a phase
  vocoder time stretch played back resampled. (A delay-line shifter is cheaper, but its
  read-head jumps move a low voice by several hertz; moving FFT bins instead thins the
  window's main lobe and loses 3 dB.)
- `robot`: ring modulation by a 70 Hz sine, then a 5 ms comb: flat and metallic.
- `echo`: the voice again 250 ms later, 6 dB down (one repeat, no feedback).
- `none`: the frame as it came.

Pure: numpy only.
"""

from __future__ import annotations

import math
from typing import Final, Protocol

import numpy as np
import numpy.typing as npt

from audio.constants import FRAME_SAMPLES, SAMPLE_RATE

Pcm = npt.NDArray[np.int16]

EFFECTS: Final = ("none", "pitch_up", "pitch_down", "robot", "echo")

PITCH_UP: Final = 3 / 2
PITCH_DOWN: Final = 2 / 3
PV_WINDOW: Final = 1920  # 40 ms: resolves a low voice's harmonics (25 Hz bins)
ECHO_DELAY: Final = SAMPLE_RATE // 4  # 250 ms
ECHO_GAIN: Final = 10 ** (-6 / 20)
ROBOT_CARRIER_HZ: Final = 70
ROBOT_COMB_DELAY: Final = SAMPLE_RATE * 5 // 1000  # 5 ms: resonances every 200 Hz
ROBOT_COMB_GAIN: Final = 0.6


class VoiceEffect(Protocol):
    name: str
    latency: int
    """Samples by which the effect delays the voice (the pitch shifters' mean delay)."""
    tail: int
    """Samples of output that still follow the last non-silent input."""

    def process(self, frame: Pcm) -> Pcm:
        """The next FRAME_SAMPLES samples of output for the next FRAME_SAMPLES of input."""
        ...

    def reset(self) -> None:
        """Forget the past (a new speaker, or the same one after a long gap)."""
        ...


def _as_float(frame: Pcm) -> npt.NDArray[np.float64]:
    x = np.asarray(frame)
    if x.shape != (FRAME_SAMPLES,):
        raise ValueError(f"expected {FRAME_SAMPLES} mono samples, got shape {x.shape}")
    return x.astype(np.float64)


def _to_pcm(y: npt.NDArray[np.float64]) -> Pcm:
    return np.clip(np.rint(y), -32768, 32767).astype(np.int16)


class NoEffect:
    name = "none"
    latency = 0
    tail = 0

    def process(self, frame: Pcm) -> Pcm:
        _as_float(frame)  # the same shape check as every effect
        return np.asarray(frame, dtype=np.int16)

    def reset(self) -> None:
        pass


class PitchShift:
    """Frequencies times hop_out / hop_in at the same speed, streaming.

    A phase vocoder stretches time by that ratio (analysis every `hop_in` samples of the
    last 40 ms, Hann window; each bin's true frequency from its phase advance; resynthesis
    every `hop_out` samples with phases advanced at that frequency; overlap-add), then a
    linear resampler plays the stretched signal back at the ratio, which scales every
    frequency and restores the duration. Both hops divide the frame, so each frame yields
    exactly FRAME_SAMPLES * ratio stretched samples and the latency is fixed.
    """

    def __init__(self, hop_in: int, hop_out: int, name: str, window: int = PV_WINDOW) -> None:
        if FRAME_SAMPLES % hop_in or window % hop_out or window % hop_in:
            raise ValueError("the hops must divide the frame and the window")
        self.name = name
        self.ratio = hop_out / hop_in
        self._n = window
        self._hop_in = hop_in
        self._hop_out = hop_out
        bins = window // 2 + 1
        omega = 2 * np.pi * np.arange(bins) / window  # bin centres, radians per sample
        self._window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(window) / window)
        # Hann² overlap-added every hop_out samples sums to 3/8 * window / hop_out.
        self._gain = 1.0 / (0.375 * window / hop_out)
        self._omega = omega
        self._bins_index = np.arange(bins)
        self._expected = omega * hop_in  # phase advance of each bin centre per analysis hop
        # Played back `ratio` times faster, stretched content above this bin would alias.
        self._band = omega < np.pi / max(self.ratio, 1.0)
        self._stretched_per_frame = FRAME_SAMPLES * hop_out // hop_in
        self._positions = np.arange(FRAME_SAMPLES) * self.ratio
        self._index = self._positions.astype(np.intp)
        self._frac = self._positions - self._index
        # A sound is centred in the analysis window half a window after it arrives, and
        # the overlap-add holds half a window less one hop of stretched samples, played
        # back at the ratio (measured on tone bursts: 1,280 and 1,920 samples).
        self.latency = round(window / 2 + (window / 2 - hop_out) / self.ratio)
        self.tail = window * 2
        self.reset()

    def reset(self) -> None:
        bins = self._n // 2 + 1
        self._input = np.zeros(self._n, dtype=np.float64)
        self._output = np.zeros(self._n, dtype=np.float64)
        self._last_phase = np.zeros(bins, dtype=np.float64)
        self._phase = np.zeros(bins, dtype=np.float64)
        self._previous = 0.0  # the last stretched sample, for interpolation

    def _stretch(self, block: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        self._input = np.concatenate((self._input[self._hop_in :], block))
        spectrum = np.fft.rfft(self._input * self._window)
        phase = np.angle(spectrum)
        deviation = phase - self._last_phase - self._expected
        self._last_phase = phase
        deviation -= 2 * np.pi * np.rint(deviation / (2 * np.pi))
        magnitude = np.abs(spectrum)
        # Identity phase locking (Laroche & Dolson): only spectral peaks advance their
        # phase at their own frequency; the bins around a peak keep their analysed phase
        # offset from it, so a partial's main lobe stays one coherent lobe (else its bins
        # drift apart and a steady tone loses several dB and sounds phasey).
        inner = magnitude[1:-1]
        peaks = np.flatnonzero((inner >= magnitude[:-2]) & (inner > magnitude[2:])) + 1
        if len(peaks) == 0:
            peaks = np.array([int(np.argmax(magnitude))])
        owner = peaks[np.searchsorted((peaks[1:] + peaks[:-1]) / 2, self._bins_index)]
        true_omega = self._omega[peaks] + deviation[peaks] / self._hop_in
        peak_phase = np.zeros_like(self._phase)
        peak_phase[peaks] = self._phase[peaks] + true_omega * self._hop_out
        self._phase = np.mod(peak_phase[owner] + phase - phase[owner], 2 * np.pi)
        resynth = np.where(self._band, magnitude, 0.0) * np.exp(1j * self._phase)
        self._output += np.fft.irfft(resynth, self._n) * self._window * self._gain
        done = self._output[: self._hop_out].copy()
        self._output = np.concatenate((self._output[self._hop_out :], np.zeros(self._hop_out)))
        return done

    def process(self, frame: Pcm) -> Pcm:
        x = _as_float(frame)
        hop = self._hop_in
        blocks = [self._stretch(x[i : i + hop]) for i in range(0, FRAME_SAMPLES, hop)]
        stretched = np.concatenate([[self._previous], *blocks])
        self._previous = float(stretched[-1])
        left = stretched[self._index]
        out = left + (stretched[self._index + 1] - left) * self._frac
        return _to_pcm(out)


class Echo:
    """The voice plus itself `delay` samples later, `gain` times as loud."""

    name = "echo"
    latency = 0

    def __init__(self, delay: int = ECHO_DELAY, gain: float = ECHO_GAIN) -> None:
        if delay < FRAME_SAMPLES:
            raise ValueError("an echo shorter than a frame is a comb, not an echo")
        self.delay = delay
        self.gain = gain
        self.tail = delay
        self.reset()

    def reset(self) -> None:
        self._history = np.zeros(self.delay, dtype=np.float64)

    def process(self, frame: Pcm) -> Pcm:
        x = _as_float(frame)
        out = x + self.gain * self._history[:FRAME_SAMPLES]
        self._history = np.concatenate((self._history[FRAME_SAMPLES:], x))
        return _to_pcm(out)


class Robot:
    """Ring modulation by a low sine (metallic sidebands, the voice's pitch scrambled)
    through a short comb (a hollow, tinny resonance)."""

    name = "robot"
    latency = 0
    tail = ROBOT_COMB_DELAY

    def __init__(self, carrier_hz: int = ROBOT_CARRIER_HZ) -> None:
        self._period = SAMPLE_RATE // math.gcd(SAMPLE_RATE, carrier_hz)
        self._carrier = np.sin(2 * np.pi * carrier_hz * np.arange(self._period) / SAMPLE_RATE)
        # Enough of the carrier to read a whole frame from any start without wrapping.
        self._carrier = np.concatenate(
            [self._carrier] * (1 + -(-FRAME_SAMPLES // self._period))
        )
        self.reset()

    def reset(self) -> None:
        self._t = 0
        self._history = np.zeros(ROBOT_COMB_DELAY, dtype=np.float64)

    def process(self, frame: Pcm) -> Pcm:
        ring = _as_float(frame) * self._carrier[self._t : self._t + FRAME_SAMPLES]
        self._t = (self._t + FRAME_SAMPLES) % self._period
        joined = np.concatenate((self._history, ring))
        out = ring + ROBOT_COMB_GAIN * joined[:FRAME_SAMPLES]
        self._history = joined[-ROBOT_COMB_DELAY:]
        # Ring modulation by a sine halves the power: make up 3 dB.
        return _to_pcm(out * math.sqrt(2) / (1 + ROBOT_COMB_GAIN))


def make_effect(name: str) -> VoiceEffect:
    """A fresh effect stream (one per speaker); ValueError naming `effect` if unknown."""
    if name == "none":
        return NoEffect()
    if name == "pitch_up":
        return PitchShift(320, 480, name)  # 480 / 320 = 3 / 2
    if name == "pitch_down":
        return PitchShift(480, 320, name)  # 320 / 480 = 2 / 3
    if name == "robot":
        return Robot()
    if name == "echo":
        return Echo()
    raise ValueError(f"effect must be one of {', '.join(EFFECTS)}")
