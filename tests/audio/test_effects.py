"""audio.effects: pitch up/down measured by FFT, the echo's copy, the robot's change,
same speed, and no clicks at frame edges."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from audio.constants import FRAME_SAMPLES, SAMPLE_RATE
from audio.effects import (
    ECHO_DELAY,
    EFFECTS,
    PITCH_DOWN,
    PITCH_UP,
    VoiceEffect,
    make_effect,
)
from audio.sources import ToneSource, tone_levels

Pcm = npt.NDArray[np.int16]
SETTLE = 10  # frames: past the pitch shifter's window and the first echo-free stretch


def run(effect: VoiceEffect, pcm: Pcm) -> Pcm:
    """Feed whole frames of `pcm` through `effect`."""
    n = FRAME_SAMPLES
    return np.concatenate([effect.process(pcm[i : i + n]) for i in range(0, len(pcm) - n + 1, n)])


def tone(freqs: list[float], frames: int, amplitude: float = 0.3) -> Pcm:
    sources = [ToneSource(f, amplitude / len(freqs)) for f in freqs]
    return np.concatenate(
        [sum((s.read().astype(np.int32) for s in sources), np.zeros(FRAME_SAMPLES, np.int32))
         .astype(np.int16) for _ in range(frames)]
    )


def peak_hz(pcm: Pcm) -> float:
    x = pcm.astype(np.float64) * np.hanning(len(pcm))
    spectrum = np.abs(np.fft.rfft(x))
    return float(np.fft.rfftfreq(len(pcm), 1 / SAMPLE_RATE)[int(np.argmax(spectrum))])


def steady(pcm: Pcm) -> Pcm:
    return pcm[SETTLE * FRAME_SAMPLES :]


# --- pitch ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "ratio"), [("pitch_up", PITCH_UP), ("pitch_down", PITCH_DOWN)]
)
@pytest.mark.parametrize("freq", [440.0, 220.0, 1000.0])
def test_pitch_moves_a_tone_by_the_ratio(name: str, ratio: float, freq: float) -> None:
    out = steady(run(make_effect(name), tone([freq], 100)))
    assert abs(peak_hz(out) / (freq * ratio) - 1) <= 0.03
    levels = tone_levels(out, [freq * ratio, freq])
    reference = tone_levels(steady(tone([freq], 100)), [freq])[freq]
    assert levels[freq * ratio] > reference - 3  # the tone keeps its loudness
    assert levels[freq] < levels[freq * ratio] - 40  # and little is left where it was


def test_the_named_ratios() -> None:
    assert (PITCH_UP, PITCH_DOWN) == (1.5, 2 / 3)


@pytest.mark.parametrize(("name", "ratio"), [("pitch_up", 1.5), ("pitch_down", 2 / 3)])
def test_pitch_moves_every_frequency_of_a_chord(name: str, ratio: float) -> None:
    out = steady(run(make_effect(name), tone([300.0, 700.0], 100, amplitude=0.5)))
    levels = tone_levels(out, [300 * ratio, 700 * ratio, 300, 700])
    for f in (300, 700):
        assert levels[f * ratio] > -25
        assert levels[f] < levels[f * ratio] - 35


@pytest.mark.parametrize("name", ["pitch_up", "pitch_down"])
def test_pitch_keeps_the_speed(name: str) -> None:
    # A 300 ms tone burst in the middle of silence lasts about as long after the effect.
    pcm = np.zeros(60 * FRAME_SAMPLES, dtype=np.int16)
    start, length = 10 * FRAME_SAMPLES, int(0.3 * SAMPLE_RATE)
    pcm[start : start + length] = tone([440.0], length // FRAME_SAMPLES)
    effect = make_effect(name)
    out = run(effect, pcm).astype(np.float64)
    loud = np.flatnonzero(np.abs(out) > 0.5 * np.abs(out).max())
    assert abs((loud[-1] - loud[0]) - length) < 0.005 * SAMPLE_RATE  # within 5 ms
    # Start and end both delayed by the effect's stated, fixed latency.
    assert abs(loud[0] - start - effect.latency) < 0.002 * SAMPLE_RATE
    assert abs(loud[-1] - (start + length) - effect.latency) < 0.002 * SAMPLE_RATE


# --- echo -------------------------------------------------------------------------------


def test_echo_repeats_a_burst_250_ms_later_6_db_down() -> None:
    pcm = np.zeros(40 * FRAME_SAMPLES, dtype=np.int16)
    burst = tone([1000.0], 5)  # 100 ms
    pcm[: len(burst)] = burst
    out = run(make_effect("echo"), pcm)
    assert np.array_equal(out[: len(burst)], burst)  # the voice itself, undelayed
    assert ECHO_DELAY == SAMPLE_RATE // 4
    copy = out[ECHO_DELAY : ECHO_DELAY + len(burst)].astype(np.float64)
    ratio_db = 20 * np.log10(np.sqrt(np.mean(copy**2)) / np.sqrt(np.mean(burst.astype(float) ** 2)))
    assert abs(ratio_db + 6) < 0.1
    assert not out[len(burst) : ECHO_DELAY].any()  # silence between
    assert not out[ECHO_DELAY + len(burst) :].any()  # one repeat, no feedback
    after = out[len(burst) :].astype(float)
    lag = int(np.argmax(np.correlate(after, burst.astype(float), "valid")))
    assert lag + len(burst) == ECHO_DELAY


def test_echo_saturates_instead_of_wrapping() -> None:
    loud = np.full(20 * FRAME_SAMPLES, 30_000, dtype=np.int16)
    out = run(make_effect("echo"), loud)
    assert out.min() == 30_000 and out.max() == 32767


# --- robot ------------------------------------------------------------------------------


def test_robot_changes_a_tone_audibly() -> None:
    pcm = tone([440.0], 100)
    out = steady(run(make_effect("robot"), pcm))
    levels = tone_levels(out, [440, 440 - 70, 440 + 70])
    reference = tone_levels(steady(pcm), [440])[440]
    assert levels[440] < reference - 40  # the tone itself is gone
    assert max(levels[370], levels[510]) > reference - 8  # sidebands carry the voice
    rms = np.sqrt(np.mean(out.astype(float) ** 2))
    assert rms > 0.3 * np.sqrt(np.mean(steady(pcm).astype(float) ** 2))


# --- every effect -------------------------------------------------------------------------


@pytest.mark.parametrize("name", EFFECTS)
@pytest.mark.parametrize("freq", [440.0, 1234.5])
def test_no_clicks_at_frame_edges(name: str, freq: float) -> None:
    out = steady(run(make_effect(name), tone([freq], 80))).astype(np.float64)
    jumps = np.abs(np.diff(out))
    edges = np.arange(FRAME_SAMPLES - 1, len(out) - 1, FRAME_SAMPLES)
    inside = np.ones(len(jumps), dtype=bool)
    inside[edges] = False
    # A sample-to-sample step across a frame edge is no larger than one inside frames.
    assert jumps[edges].max() <= 1.05 * jumps[inside].max() + 2


@pytest.mark.parametrize("name", EFFECTS)
def test_state_is_per_stream_and_reset_forgets_it(name: str) -> None:
    pcm = tone([523.0], 30)
    first, second = make_effect(name), make_effect(name)
    a = run(first, pcm)
    run(second, tone([200.0], 7))  # another speaker's past
    second.reset()
    assert np.array_equal(run(second, pcm), a)
    assert first.latency >= 0 and first.tail >= 0


def test_none_is_identity() -> None:
    pcm = tone([440.0], 3)
    assert np.array_equal(run(make_effect("none"), pcm), pcm)


def test_silence_in_silence_out() -> None:
    for name in EFFECTS:
        assert not run(make_effect(name), np.zeros(10 * FRAME_SAMPLES, np.int16)).any()


def test_unknown_effect_and_wrong_frames() -> None:
    with pytest.raises(ValueError, match="effect"):
        make_effect("chipmunk")
    for name in EFFECTS:
        with pytest.raises(ValueError):
            make_effect(name).process(np.zeros(FRAME_SAMPLES + 1, np.int16))
        with pytest.raises(ValueError):
            make_effect(name).process(np.zeros((FRAME_SAMPLES, 2), np.int16))
