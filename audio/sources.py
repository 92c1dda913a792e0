"""Microphone-like audio sources (tone, WAV/MP3 file) and a recorder, for clients and tests.

Everything here is 48 kHz mono int16 in 20 ms frames of 960 samples, the room format.
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import math
import shutil
import time
import warnings
import wave
from pathlib import Path
from typing import Protocol

import numpy as np
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av import AudioFrame

SAMPLE_RATE = 48_000
FRAME_SAMPLES = 960
FRAME_SECONDS = FRAME_SAMPLES / SAMPLE_RATE
TIME_BASE = fractions.Fraction(1, SAMPLE_RATE)


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


class SourceTrack(MediaStreamTrack):
    """An aiortc audio track that plays a PcmSource in real time, like a microphone."""

    kind = "audio"

    def __init__(self, source: PcmSource) -> None:
        super().__init__()
        self.source = source
        self._start: float | None = None
        self._pts = 0

    async def recv(self) -> AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = time.monotonic()
        else:
            self._pts += FRAME_SAMPLES
            wait = self._start + self._pts / SAMPLE_RATE - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
        pcm = self.source.read()
        frame = AudioFrame.from_ndarray(pcm.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = SAMPLE_RATE
        frame.pts = self._pts
        frame.time_base = TIME_BASE
        return frame


def frame_to_mono(frame: AudioFrame) -> np.ndarray:
    """int16 mono samples of a decoded frame (aiortc decodes Opus to packed stereo)."""
    data = frame.to_ndarray()
    channels = len(frame.layout.channels)
    if frame.format.is_planar:
        return np.asarray(data[0], dtype=np.int16)
    return np.asarray(data.reshape(-1)[::channels], dtype=np.int16)


class Recorder:
    """Drains a received track and keeps its audio (48 kHz mono int16).

    Draining matters on its own: aiortc queues every decoded frame until ``recv()``.
    ``max_seconds`` bounds memory by keeping only the most recent audio.
    """

    def __init__(self, max_seconds: float = 600.0) -> None:
        self._chunks: list[np.ndarray] = []
        self._samples = 0
        self._max = int(max_seconds * SAMPLE_RATE)
        self._task: asyncio.Task[None] | None = None
        self.frames = 0

    def start(self, track: MediaStreamTrack) -> None:
        if self._task is not None:
            self._task.cancel()
        self._task = asyncio.ensure_future(self._run(track))

    async def _run(self, track: MediaStreamTrack) -> None:
        with contextlib.suppress(MediaStreamError):
            while True:
                frame = await track.recv()
                assert isinstance(frame, AudioFrame)
                self.add(frame_to_mono(frame))

    def add(self, pcm: np.ndarray) -> None:
        self._chunks.append(pcm)
        self._samples += len(pcm)
        self.frames += 1
        while self._samples - len(self._chunks[0]) >= self._max and len(self._chunks) > 1:
            self._samples -= len(self._chunks.pop(0))

    @property
    def seconds(self) -> float:
        return self._samples / SAMPLE_RATE

    def samples(self, last_seconds: float | None = None) -> np.ndarray:
        if not self._chunks:
            return np.zeros(0, dtype=np.int16)
        pcm = np.concatenate(self._chunks)
        if last_seconds is not None:
            pcm = pcm[-int(last_seconds * SAMPLE_RATE) :]
        return pcm

    def clear(self) -> None:
        self._chunks.clear()
        self._samples = 0

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, MediaStreamError):
                await self._task
            self._task = None

    def save_wav(self, path: str | Path) -> None:
        write_wav(path, self.samples())


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
