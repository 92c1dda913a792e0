"""Microphone-like audio sources (tone, silence, WAV/MP3 file) and tone measurement.

Everything here is 48 kHz mono int16 in 20 ms frames of 960 samples, the room format.
"""

from __future__ import annotations

import math
import shutil
import warnings
import wave
from pathlib import Path
from typing import Protocol

import numpy as np

from audio.constants import FRAME_SAMPLES, SAMPLE_RATE


class PcmSource(Protocol):
    def read(self) -> np.ndarray:
        """The next 20 ms: int16 array of FRAME_SAMPLES samples."""


class ToneSource:
    """A sine of ``freq`` Hz at ``amplitude`` (fraction of full scale), phase-continuous."""

    def __init__(self, freq: float, amplitude: float = 0.3) -> None:
        if not 0 < freq < SAMPLE_RATE / 2:
            raise ValueError("tone frequency must be between 0 and 24000 Hz")
        if not 0 <= amplitude <= 1:
            raise ValueError("amplitude must be between 0 and 1")
        self.freq = float(freq)
        self.amplitude = amplitude
        self._n = 0

    def read(self) -> np.ndarray:
        t = (np.arange(FRAME_SAMPLES) + self._n) / SAMPLE_RATE
        self._n += FRAME_SAMPLES
        # Keep the sample counter bounded without a phase jump.
        if self.freq.is_integer():
            self._n %= SAMPLE_RATE // math.gcd(SAMPLE_RATE, int(self.freq))
        wave_ = np.sin(2 * np.pi * self.freq * t) * (self.amplitude * 32767)
        return wave_.astype(np.int16)


class SilenceSource:
    def read(self) -> np.ndarray:
        return np.zeros(FRAME_SAMPLES, dtype=np.int16)


class FileSource:
    """A WAV/MP3/... file as room PCM (48 kHz mono int16).

    Decoded by pydub; where pydub needs ffmpeg and there is none (MP3 and friends on a
    machine without it), by PyAV, whose wheels carry their own FFmpeg.
    At the end it loops when ``loop`` is set, else plays silence (and ``finished`` is set).
    """

    def __init__(self, path: str | Path, loop: bool = False) -> None:
        self._pcm = decode_file(path)
        if not len(self._pcm):
            raise ValueError(f"{path}: no audio")
        self.loop = loop
        self.finished = False
        self._pos = 0

    @property
    def duration(self) -> float:
        return len(self._pcm) / SAMPLE_RATE

    def read_all(self) -> np.ndarray:
        """The whole file's samples (a copy)."""
        return self._pcm.copy()

    def read(self) -> np.ndarray:
        out = np.zeros(FRAME_SAMPLES, dtype=np.int16)
        filled = 0
        while filled < FRAME_SAMPLES:
            if self._pos >= len(self._pcm):
                if not self.loop:
                    self.finished = True
                    break
                self._pos = 0
            take = min(FRAME_SAMPLES - filled, len(self._pcm) - self._pos)
            out[filled : filled + take] = self._pcm[self._pos : self._pos + take]
            filled += take
            self._pos += take
        return out


def decode_file(path: str | Path) -> np.ndarray:
    """The whole file as 48 kHz mono int16."""
    if not Path(path).is_file():
        raise FileNotFoundError(str(path))
    # pydub reads WAV itself but needs ffmpeg for anything else (and leaks the open file
    # when ffmpeg is missing): without ffmpeg, PyAV decodes those.
    if Path(path).suffix.lower() == ".wav" or shutil.which("ffmpeg") or shutil.which("avconv"):
        with warnings.catch_warnings():
            # pydub warns at import about audioop (3.11) and a missing ffmpeg.
            warnings.simplefilter("ignore")
            from pydub import AudioSegment

            try:
                segment = AudioSegment.from_file(str(path))
            except Exception:  # pydub's CouldntDecodeError, ffmpeg failures
                segment = None
        if segment is not None:
            segment = segment.set_frame_rate(SAMPLE_RATE).set_channels(1).set_sample_width(2)
            return np.frombuffer(segment.raw_data, dtype=np.int16).copy()
    return _decode_with_av(path)


def _decode_with_av(path: str | Path) -> np.ndarray:
    import av
    from av.audio.resampler import AudioResampler

    resampler = AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
    chunks: list[np.ndarray] = []
    try:
        with av.open(str(path)) as container:
            for frame in container.decode(audio=0):
                for out in resampler.resample(frame):
                    chunks.append(out.to_ndarray().reshape(-1))
            for out in resampler.resample(None):
                chunks.append(out.to_ndarray().reshape(-1))
    except av.FFmpegError as exc:
        raise ValueError(f"{path}: cannot decode audio: {exc}") from exc
    if not chunks:
        return np.zeros(0, dtype=np.int16)
    return np.concatenate(chunks).astype(np.int16)


def write_wav(path: str | Path, pcm: np.ndarray) -> None:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
        out.writeframes(np.asarray(pcm, dtype="<i2").tobytes())


def tone_levels(pcm: np.ndarray, freqs: list[float], band_hz: float = 15.0) -> dict[float, float]:
    """Energy (dB relative to a full-scale sine) within ``band_hz`` of each frequency.

    Hann-windowed FFT; a full-scale sine reads about 0 dB, silence about -200 dB.
    """
    x = np.asarray(pcm, dtype=np.float64) / 32768.0
    if len(x) < 256:
        return {f: -200.0 for f in freqs}
    window = np.hanning(len(x))
    spectrum = np.abs(np.fft.rfft(x * window)) ** 2
    bins = np.fft.rfftfreq(len(x), 1 / SAMPLE_RATE)
    # Parseval: a full-scale sine puts N * sum(w^2) / 4 into the positive-frequency bins.
    reference = len(x) * float((window**2).sum()) / 4
    out: dict[float, float] = {}
    for f in freqs:
        band = (bins >= f - band_hz) & (bins <= f + band_hz)
        energy = float(spectrum[band].sum()) / reference
        out[f] = 10 * math.log10(energy + 1e-20)
    return out
