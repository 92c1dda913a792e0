"""audio.sounds: the built-in set, deterministic, clean at the edges, and each sounding
like what its title says (measured, not listened to)."""

from __future__ import annotations

import re

import numpy as np
import numpy.typing as npt
import pytest

from audio.constants import SAMPLE_RATE
from audio.sounds import builtin_sounds, synthesise
from audio.sources import tone_levels

Pcm = npt.NDArray[np.int16]


def rms_db(x: Pcm) -> float:
    return float(20 * np.log10(np.sqrt(np.mean(x.astype(np.float64) ** 2)) / 32768 + 1e-12))


def envelope(x: Pcm, ms: int = 10) -> npt.NDArray[np.float64]:
    """RMS per `ms` window."""
    n = SAMPLE_RATE * ms // 1000
    blocks = x[: len(x) // n * n].astype(np.float64).reshape(-1, n)
    return np.asarray(np.sqrt((blocks**2).mean(axis=1)), dtype=np.float64)


def bursts(env: npt.NDArray[np.float64], threshold: float) -> int:
    """How many times `env` rises above `threshold`."""
    above = env > threshold
    return int(np.count_nonzero(above[1:] & ~above[:-1]) + above[0])


def seconds(x: Pcm, start: float, end: float) -> Pcm:
    return x[int(start * SAMPLE_RATE) : int(end * SAMPLE_RATE)]


def test_catalogue() -> None:
    sounds = builtin_sounds()
    assert len(sounds) >= 5
    for sound_id, sound in sounds.items():
        assert sound.id == sound_id and re.fullmatch(r"[a-z_]{1,24}", sound_id)
        assert sound.title.strip()
        assert sound.samples.dtype == np.int16 and sound.samples.ndim == 1
        assert 0.3 <= sound.seconds <= 4
        assert sound.seconds == len(sound.samples) / SAMPLE_RATE
        assert sound.to_wire() == {"id": sound_id, "title": sound.title,
                                   "seconds": round(sound.seconds, 3)}
    assert builtin_sounds() is sounds  # made once


@pytest.mark.parametrize("sound_id", list(builtin_sounds()))
def test_each_is_deterministic_loud_enough_and_clean_at_the_edges(sound_id: str) -> None:
    pcm = builtin_sounds()[sound_id].samples
    assert np.array_equal(synthesise(sound_id), pcm)
    assert not pcm.flags.writeable  # shared by every room: nobody may change it
    peak = int(np.abs(pcm.astype(np.int32)).max())
    assert 0.6 * 32767 < peak < 32767  # about -3 dBFS, never clipped
    assert rms_db(pcm) > -40
    assert abs(int(pcm[0])) < 50 and abs(int(pcm[-1])) < 50  # fades: no click
    assert rms_db(pcm[-SAMPLE_RATE // 50 :]) < rms_db(pcm) - 10  # dies away, is not cut off


def test_ding_is_an_880_hz_bell_that_dies_away() -> None:
    pcm = builtin_sounds()["ding"].samples
    spectrum = np.abs(np.fft.rfft(pcm.astype(np.float64)))
    strongest = np.fft.rfftfreq(len(pcm), 1 / SAMPLE_RATE)[int(np.argmax(spectrum))]
    assert abs(strongest - 880) < 5
    assert rms_db(seconds(pcm, 1.3, 1.5)) < rms_db(seconds(pcm, 0.0, 0.2)) - 15


def test_drum_roll_is_twenty_strokes_a_second_then_a_crash() -> None:
    pcm = builtin_sounds()["drum_roll"].samples
    env = envelope(seconds(pcm, 0.0, 1.5), ms=5)
    assert 27 <= bursts(env, 0.3 * env.max()) <= 31
    assert rms_db(seconds(pcm, 1.5, 1.7)) > rms_db(seconds(pcm, 0.0, 0.2)) + 6  # crash


def test_applause_is_broadband_noise_in_many_claps() -> None:
    pcm = builtin_sounds()["applause"].samples
    power = np.abs(np.fft.rfft(pcm.astype(np.float64))) ** 2
    freqs = np.fft.rfftfreq(len(pcm), 1 / SAMPLE_RATE)
    in_band = power[(freqs >= 700) & (freqs <= 6000)].sum() / power.sum()
    assert in_band > 0.95
    assert power.max() / power.sum() < 0.001  # no tone anywhere
    env = envelope(seconds(pcm, 0.5, 1.5), ms=2)
    assert bursts(env, 1.5 * float(np.median(env))) > 30


def test_laugh_is_five_voiced_syllables() -> None:
    pcm = builtin_sounds()["laugh"].samples
    env = envelope(pcm)
    assert bursts(env, 0.2 * env.max()) == 5
    # The first syllable's pitch, by autocorrelation: a voice, 220-320 Hz.
    x = seconds(pcm, 0.03, 0.10).astype(np.float64)
    corr = np.correlate(x, x, "full")[len(x) - 1 :]
    lag = int(np.argmax(corr[SAMPLE_RATE // 400 : SAMPLE_RATE // 150])) + SAMPLE_RATE // 400
    assert 200 <= SAMPLE_RATE / lag <= 330


def test_whoosh_sweeps_up_and_back_down() -> None:
    pcm = builtin_sounds()["whoosh"].samples

    def centroid(part: Pcm) -> float:
        spectrum = np.abs(np.fft.rfft(part.astype(np.float64)))
        freqs = np.fft.rfftfreq(len(part), 1 / SAMPLE_RATE)
        return float((spectrum * freqs).sum() / spectrum.sum())

    start, middle, end = (centroid(seconds(pcm, a, a + 0.15)) for a in (0.05, 0.425, 0.8))
    assert middle > 2 * start and middle > 2 * end


def test_tada_is_two_chords_with_a_gap() -> None:
    pcm = builtin_sounds()["tada"].samples
    assert rms_db(seconds(pcm, 0.165, 0.215)) < rms_db(seconds(pcm, 0.03, 0.13)) - 30
    first = tone_levels(seconds(pcm, 0.02, 0.14), [392.0, 523.25], band_hz=20)
    second = tone_levels(seconds(pcm, 0.4, 1.0), [392.0, 523.25])
    assert first[392.0] > first[523.25] + 10  # "ta" on G
    assert second[523.25] > second[392.0] + 20  # "daa" on C


def test_unknown_sound() -> None:
    with pytest.raises(ValueError, match="sound"):
        synthesise("fanfare")
