"""audio.sources: tone, files (WAV through pydub, MP3 through PyAV when ffmpeg is missing),
WAV writing and the FFT level helper the media tests rely on."""

from __future__ import annotations

import fractions
from pathlib import Path

import av
import numpy as np
import pytest

from audio.sources import (
    FRAME_SAMPLES,
    SAMPLE_RATE,
    FileSource,
    ToneSource,
    tone_levels,
    write_wav,
)


def tone(freq: float, frames: int, amplitude: float = 0.3) -> np.ndarray:
    source = ToneSource(freq, amplitude)
    return np.concatenate([source.read() for _ in range(frames)])


def test_tone_levels_reads_a_sine_and_nothing_else() -> None:
    pcm = tone(440.0, 50, amplitude=1.0)
    levels = tone_levels(pcm, [440.0, 880.0])
    assert abs(levels[440.0]) < 0.1  # a full-scale sine reads 0 dB
    assert levels[880.0] < -120
    assert abs(tone_levels(tone(440.0, 50, 0.1), [440.0])[440.0] + 20) < 0.1


def test_tone_is_phase_continuous_across_frames() -> None:
    source = ToneSource(1000.0)
    a, b = source.read(), source.read()
    assert a.shape == (FRAME_SAMPLES,) and a.dtype == np.int16
    ideal = (np.sin(2 * np.pi * 1000 * np.arange(2 * FRAME_SAMPLES) / SAMPLE_RATE)
             * 0.3 * 32767).astype(np.int16)
    assert np.abs(np.concatenate([a, b]).astype(int) - ideal).max() <= 1


def test_wav_file_round_trip_loops_or_ends_in_silence(tmp_path: Path) -> None:
    path = tmp_path / "t.wav"
    write_wav(path, tone(660.0, 10))
    once = FileSource(path)
    assert once.duration == pytest.approx(0.2)
    frames = [once.read() for _ in range(12)]
    assert once.finished and not frames[-1].any()
    assert tone_levels(np.concatenate(frames[:10]), [660.0])[660.0] > -12
    looped = FileSource(path, loop=True)
    assert all(looped.read().any() for _ in range(25)) and not looped.finished


def test_mp3_is_decoded(tmp_path: Path) -> None:
    path = tmp_path / "t.mp3"
    pcm = tone(660.0, 100)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("mp3", rate=44_100)
        stream.layout = "mono"
        frame = av.AudioFrame.from_ndarray(pcm.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = SAMPLE_RATE
        frame.time_base = fractions.Fraction(1, SAMPLE_RATE)
        resampler = av.AudioResampler(format=stream.codec_context.format.name, layout="mono",
                                      rate=44_100, frame_size=stream.codec_context.frame_size)
        for chunk in [*resampler.resample(frame), *resampler.resample(None)]:
            out.mux(stream.encode(chunk))
        out.mux(stream.encode(None))
    source = FileSource(path)
    assert source.duration == pytest.approx(2.0, abs=0.1)
    assert tone_levels(source.read_all()[4800:-4800], [660.0])[660.0] > -12


def test_missing_and_garbage_files_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        FileSource(tmp_path / "nope.mp3")
    garbage = tmp_path / "bad.mp3"
    garbage.write_bytes(b"not audio at all" * 10)
    with pytest.raises(ValueError):
        FileSource(garbage)


def test_bad_tone_parameters_are_refused() -> None:
    with pytest.raises(ValueError):
        ToneSource(0)
    with pytest.raises(ValueError):
        ToneSource(440, amplitude=2)
