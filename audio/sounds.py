"""The built-in sounds, synthesised here (no files, no downloads): 48 kHz mono int16.

Deterministic (fixed seeds), made once on first use and shared read-only. Each peaks at
-3 dBFS and fades in and out over 5 ms, so it starts and ends without a click.
Pure: numpy only.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np
import numpy.typing as npt

from audio.constants import SAMPLE_RATE

Pcm = npt.NDArray[np.int16]
Signal = npt.NDArray[np.float64]

PEAK = 10 ** (-3 / 20)
FADE = SAMPLE_RATE * 5 // 1000


@dataclass(frozen=True, eq=False)
class Sound:
    id: str
    title: str
    samples: Pcm  # read-only

    @property
    def seconds(self) -> float:
        return len(self.samples) / SAMPLE_RATE

    def to_wire(self) -> dict[str, object]:
        return {"id": self.id, "title": self.title, "seconds": round(self.seconds, 3)}


def _time(seconds: float) -> Signal:
    return np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE


def _band(noise: Signal, low: float, high: float) -> Signal:
    """`noise` keeping only `low`..`high` Hz (an FFT mask: fine for a whole, short sound)."""
    spectrum = np.fft.rfft(noise)
    freqs = np.fft.rfftfreq(len(noise), 1 / SAMPLE_RATE)
    spectrum[(freqs < low) | (freqs > high)] = 0
    return np.fft.irfft(spectrum, len(noise))


def _place(out: Signal, at: int, burst: Signal) -> None:
    end = min(len(out), at + len(burst))
    out[at:end] += burst[: end - at]


def _finish(x: Signal) -> Pcm:
    x = x - x.mean()
    ramp = np.linspace(0.0, 1.0, FADE)
    x[:FADE] *= ramp
    x[-FADE:] *= ramp[::-1]
    x *= PEAK * 32767 / np.abs(x).max()
    pcm = np.rint(x).astype(np.int16)
    pcm.setflags(write=False)
    return pcm


def _ding() -> Signal:
    # A bell's inharmonic partials (a struck plate's ratios), the high ones dying first.
    t = _time(1.6)
    partials = [(1.0, 1.0, 0.45), (2.76, 0.5, 0.3), (5.40, 0.25, 0.15), (8.93, 0.12, 0.08)]
    x = sum(a * np.exp(-t / decay) * np.sin(2 * np.pi * 880 * r * t) for r, a, decay in partials)
    attack = np.minimum(1.0, t / 0.002)
    return np.asarray(x * attack, dtype=np.float64)


def _applause() -> Signal:
    # Hundreds of claps (5-15 ms bursts of band-limited noise) at random times, the
    # crowd swelling in and dying away.
    rng = np.random.default_rng(1)
    seconds = 2.5
    out = np.zeros(int(seconds * SAMPLE_RATE))
    noise = _band(rng.normal(0, 1, len(out)), 700, 6000)
    for at in np.sort(rng.uniform(0, seconds - 0.02, 260)):
        length = int(rng.uniform(0.005, 0.015) * SAMPLE_RATE)
        start = int(rng.integers(0, len(noise) - length))
        clap = noise[start : start + length] * np.exp(-np.arange(length) / (length / 4))
        _place(out, int(at * SAMPLE_RATE), clap * rng.uniform(0.3, 1.0))
    t = _time(seconds)
    return out * np.minimum(1.0, t / 0.3) * np.minimum(1.0, (seconds - t) / 0.8)


def _drum_roll() -> Signal:
    # A snare roll getting louder (noise burst plus a 190 Hz body per stroke, 20 strokes
    # a second), ending on a cymbal crash.
    rng = np.random.default_rng(2)
    roll, crash = 1.5, 1.0
    out = np.zeros(int((roll + crash) * SAMPLE_RATE))
    stroke_t = _time(0.08)
    strokes = int(roll * 20)
    for i in range(strokes):
        body = 0.5 * np.sin(2 * np.pi * 190 * stroke_t) * np.exp(-stroke_t / 0.02)
        rattle = _band(rng.normal(0, 1, len(stroke_t)), 1500, 9000) * np.exp(-stroke_t / 0.015)
        _place(out, int(i * SAMPLE_RATE / 20), (body + 0.6 * rattle) * (0.3 + 0.7 * i / strokes))
    crash_t = _time(crash)
    cymbal = _band(rng.normal(0, 1, len(crash_t)), 3000, 14000) * np.exp(-crash_t / 0.35)
    _place(out, int(roll * SAMPLE_RATE), 1.6 * cymbal)
    return out


def _laugh() -> Signal:
    # "Ha-ha-ha-ha-ha": five voiced syllables, each a falling-pitch harmonic tone shaped
    # by the formants of an open 'a' (about 800 and 1,200 Hz), with breath between.
    rng = np.random.default_rng(3)
    syllable, gap = 0.13, 0.07
    out = np.zeros(int(5 * (syllable + gap) * SAMPLE_RATE + 0.1 * SAMPLE_RATE))
    t = _time(syllable)
    envelope = np.sin(np.pi * t / syllable) ** 2
    for i in range(5):
        f0 = 300 - 18 * i - 60 * t / syllable
        phase = 2 * np.pi * np.cumsum(f0) / SAMPLE_RATE
        voice = np.zeros_like(t)
        for k in range(1, 20):
            formants = np.exp(-(((k * f0 - 800) / 250) ** 2)) + 0.7 * np.exp(
                -(((k * f0 - 1200) / 300) ** 2)
            )
            voice += (0.15 + formants) * np.sin(k * phase) / k
        breath = 0.08 * _band(rng.normal(0, 1, len(t)), 500, 4000)
        _place(out, int(i * (syllable + gap) * SAMPLE_RATE), (voice + breath) * envelope)
    return out


def _whoosh() -> Signal:
    # Noise through a band that sweeps up then back down, swelling and fading: eight
    # fixed bands cross-faded along the sweep.
    rng = np.random.default_rng(4)
    seconds = 1.0
    t = _time(seconds)
    centre = 300 * (16 ** np.sin(np.pi * t / seconds))  # 300 Hz -> 4,800 Hz -> 300 Hz
    log_centres = np.linspace(np.log(300), np.log(4800), 8)
    out = np.zeros_like(t)
    for c in log_centres:
        band = _band(rng.normal(0, 1, len(t)), np.exp(c) * 0.7, np.exp(c) * 1.4)
        weight = np.exp(-(((np.log(centre) - c) / 0.35) ** 2))
        out += band * weight
    return out * np.sin(np.pi * t / seconds) ** 1.5


def _tada() -> Signal:
    # A brassy "ta-daa": a short major chord then a long one a fourth higher, with
    # sawtooth-like harmonics, a soft attack and a little vibrato on the long one.
    def chord(root: float, seconds: float, vibrato: float) -> Signal:
        t = _time(seconds)
        x = np.zeros_like(t)
        for ratio in (1.0, 1.25, 1.5, 2.0):  # root, major third, fifth, octave
            f = root * ratio * (1 + vibrato * np.sin(2 * np.pi * 5.5 * t))
            phase = 2 * np.pi * np.cumsum(f) / SAMPLE_RATE
            x += sum(np.sin(k * phase) / k for k in range(1, 9))
        attack = np.minimum(1.0, t / 0.03)
        release = np.minimum(1.0, (seconds - t) / 0.12)
        return np.asarray(x * attack * release, dtype=np.float64)

    ta, gap = chord(392.0, 0.16, 0.0), np.zeros(int(0.06 * SAMPLE_RATE))
    return np.concatenate([0.7 * ta, gap, chord(523.25, 0.9, 0.004)])


_SOUNDS: tuple[tuple[str, str, Callable[[], Signal]], ...] = (
    ("applause", "Applause", _applause),
    ("ding", "Ding", _ding),
    ("drum_roll", "Drum roll", _drum_roll),
    ("laugh", "Laugh", _laugh),
    ("whoosh", "Whoosh", _whoosh),
    ("tada", "Ta-da!", _tada),
)


@functools.cache
def builtin_sounds() -> Mapping[str, Sound]:
    """Every built-in sound by id, in catalogue order (made on the first call)."""
    return MappingProxyType(
        {sound_id: Sound(sound_id, title, _finish(make())) for sound_id, title, make in _SOUNDS}
    )


def synthesise(sound_id: str) -> Pcm:
    """A fresh rendering of one built-in sound (what `builtin_sounds` caches)."""
    for known, _, make in _SOUNDS:
        if known == sound_id:
            return _finish(make())
    raise ValueError(f"sound must be one of {', '.join(s[0] for s in _SOUNDS)}")
