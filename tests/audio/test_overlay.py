"""audio.overlay: sounds once, music with loops, volume, ducking and fades that never click."""

from __future__ import annotations

import numpy as np
import pytest

from audio.constants import FRAME_SAMPLES, SAMPLE_RATE
from audio.overlay import (
    DUCK_DB,
    DUCK_HOLD_TICKS,
    MAX_SOUNDS,
    Ducker,
    Music,
    Overlay,
)

AMPLITUDE = 0.5 * 32767
FREQ = 440.0
# A sine's largest step between two samples, the bound a smooth gain keeps within (the
# gain's own change per sample is far smaller than this).
SINE_STEP = AMPLITUDE * 2 * np.pi * FREQ / SAMPLE_RATE


def sine(seconds: float, freq: float = FREQ) -> np.ndarray:
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    return np.rint(AMPLITUDE * np.sin(2 * np.pi * freq * t)).astype(np.int16)


def rms_db(x: np.ndarray) -> float:
    return float(20 * np.log10(np.sqrt(np.mean(x.astype(np.float64) ** 2)) + 1e-9))


def play(music: Music, ticks: int, ducked: bool | list[bool] = False) -> np.ndarray:
    flags = ducked if isinstance(ducked, list) else [ducked] * ticks
    out = []
    for flag in flags[:ticks]:
        frame = music.next_frame(flag)
        out.append(np.zeros(FRAME_SAMPLES, np.int16) if frame is None else frame)
    return np.concatenate(out)


def test_a_sound_plays_once_as_it_is() -> None:
    overlay = Overlay()
    sound = sine(0.05)  # 2.5 frames
    overlay.play_sound(sound)
    got = np.concatenate([overlay.frames()[0] for _ in range(3)])
    assert np.array_equal(got[: len(sound)], sound)
    assert not got[len(sound):].any()
    assert overlay.frames() == [] and overlay.idle


def test_sounds_overlap_and_the_oldest_goes_beyond_the_bound() -> None:
    overlay = Overlay()
    for i in range(MAX_SOUNDS + 2):
        overlay.play_sound(np.full(FRAME_SAMPLES * 3, i + 1, np.int16))
    frames = overlay.frames()
    assert len(frames) == MAX_SOUNDS
    assert sorted(int(f[0]) for f in frames) == list(range(3, MAX_SOUNDS + 3))


def test_music_fades_in_then_plays_at_its_volume_and_loops_without_a_seam() -> None:
    track = sine(0.5)  # a whole number of cycles: the loop point joins the waveform
    music = Music(track, loop=True, volume=0.5)
    out = play(music, 100)  # 2 s: four times round
    assert np.abs(np.diff(out.astype(np.float64))).max() <= 0.5 * SINE_STEP * 1.01
    settled = out[SAMPLE_RATE:]
    assert rms_db(settled) == pytest.approx(rms_db(track) - 6.02, abs=0.05)
    assert not music.ran_out and not music.done


def test_a_track_that_does_not_loop_runs_out() -> None:
    music = Music(sine(0.1), loop=False, volume=1.0)
    out = play(music, 10)
    assert music.ran_out and music.done
    assert not out[int(0.1 * SAMPLE_RATE):].any()
    assert music.next_frame(False) is None


def test_ducking_is_ten_db_and_never_clicks() -> None:
    music = Music(sine(1.0), loop=True, volume=1.0)
    flags = [False] * 50 + [True] * 50 + [False] * 75
    out = play(music, len(flags), flags).astype(np.float64)
    frame = FRAME_SAMPLES
    free = rms_db(out[40 * frame : 50 * frame])
    ducked = rms_db(out[90 * frame : 100 * frame])
    back = rms_db(out[165 * frame : 175 * frame])
    assert free - ducked == pytest.approx(DUCK_DB, abs=0.1)
    assert back == pytest.approx(free, abs=0.1)
    # No step larger than the sine's own anywhere, the ramps included.
    assert np.abs(np.diff(out)).max() <= SINE_STEP * 1.01
    # Compare: switching the gain at once (at a peak of the wave) steps by several times that.
    at = 50 * frame + int(SAMPLE_RATE / FREQ / 4)
    hard = np.concatenate([out[:at], out[at:] * 10 ** (-DUCK_DB / 20)])
    assert np.abs(np.diff(hard)).max() > 3 * SINE_STEP


def test_volume_changes_and_stop_are_ramps() -> None:
    music = Music(sine(1.0), loop=True, volume=1.0)
    before = play(music, 50)
    music.set_volume(0.1)
    during = play(music, 50)
    music.stop()
    after = play(music, 25)
    joined = np.concatenate([before, during, after]).astype(np.float64)
    assert np.abs(np.diff(joined)).max() <= SINE_STEP * 1.01
    assert rms_db(during[-10 * FRAME_SAMPLES:]) == pytest.approx(
        rms_db(before[-10 * FRAME_SAMPLES:]) - 20, abs=0.1)
    assert music.done and not after[-FRAME_SAMPLES:].any()


def test_a_replaced_track_fades_while_the_new_one_comes_in() -> None:
    overlay = Overlay()
    first = Music(sine(1.0, 300.0), loop=True, volume=1.0)
    overlay.play_music(first)
    for _ in range(20):
        overlay.frames()
    overlay.play_music(Music(sine(1.0, 500.0), loop=True, volume=1.0))
    assert len(overlay.frames()) == 2  # the old one fading, the new one
    for _ in range(20):
        overlay.frames()
    assert first.done and len(overlay.frames()) == 1
    overlay.stop_music()
    for _ in range(20):
        overlay.frames()
    assert overlay.idle


def test_the_ducker_holds_through_pauses_between_words() -> None:
    ducker = Ducker()
    assert not ducker.update({"a": 0.0})
    assert ducker.update({"a": 0.5, "b": 0.0})
    for _ in range(DUCK_HOLD_TICKS):
        assert ducker.update({"a": 0.1})
    assert not ducker.update({"a": 0.1})
    assert not ducker.update({})


def test_overlay_ducks_music_while_voices_are_loud() -> None:
    overlay = Overlay()
    overlay.play_music(Music(sine(1.0), loop=True, volume=1.0))
    quiet = [overlay.frames()[0] for _ in range(50)][-10:]
    for _ in range(40):
        overlay.update_voices({"speaker": 0.6})
        frames = overlay.frames()
    loud = [frames[0]]
    for _ in range(9):
        overlay.update_voices({"speaker": 0.6})
        loud.append(overlay.frames()[0])
    assert rms_db(np.concatenate(quiet)) - rms_db(np.concatenate(loud)) == pytest.approx(
        DUCK_DB, abs=0.1)


def test_bad_tracks_are_refused() -> None:
    with pytest.raises(ValueError):
        Music(np.zeros(0, np.int16), loop=False, volume=1.0)
