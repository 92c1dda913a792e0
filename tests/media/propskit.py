"""Helpers for the props media tests: a room over the real server, gated tones, envelopes."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from audio.constants import FRAME_SAMPLES, SAMPLE_RATE
from audio.sources import write_wav
from tests.support.rtc import ClientMedia, connect
from tests.support.server import RunningServer, WireClient

FULL = 32767.0


class GatedTone:
    """A microphone that plays a sine while `on`, silence otherwise. The sine restarts at
    phase 0 whenever it comes on, and `freq` should fit whole cycles in a frame (200 Hz,
    500 Hz, ...): switching at frame edges then never steps."""

    def __init__(self, freq: float, amplitude: float, on: bool = False) -> None:
        self.freq = freq
        self.amplitude = amplitude
        self.on = on
        self._n = 0

    def read(self) -> np.ndarray:
        if not self.on:
            self._n = 0
            return np.zeros(FRAME_SAMPLES, dtype=np.int16)
        t = (np.arange(FRAME_SAMPLES) + self._n) / SAMPLE_RATE
        self._n += FRAME_SAMPLES
        return np.rint(self.amplitude * FULL * np.sin(2 * np.pi * self.freq * t)).astype(
            np.int16)


class Bursts:
    """`burst` seconds of a sine every `period` seconds (each burst from phase 0)."""

    def __init__(self, freq: float, amplitude: float, burst: float, period: float) -> None:
        self.freq, self.amplitude = freq, amplitude
        self.burst = int(burst * SAMPLE_RATE)
        self.period = int(period * SAMPLE_RATE)
        self._n = 0

    def read(self) -> np.ndarray:
        n = (np.arange(FRAME_SAMPLES) + self._n) % self.period
        self._n += FRAME_SAMPLES
        wave = self.amplitude * FULL * np.sin(2 * np.pi * self.freq * n / SAMPLE_RATE)
        return np.rint(np.where(n < self.burst, wave, 0.0)).astype(np.int16)


def tone_file(path: Path, freq: float, seconds: float, amplitude: float = 0.5,
              fade: float = 0.005) -> Path:
    """A WAV of a sine (faded in and out over `fade` seconds)."""
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    x = amplitude * FULL * np.sin(2 * np.pi * freq * t)
    ramp = np.minimum(1.0, np.minimum(t, seconds - t) / fade) if fade else 1.0
    write_wav(path, np.rint(x * ramp).astype(np.int16))
    return path


def band(pcm: np.ndarray, freq: float, width: float = 60.0) -> np.ndarray:
    """The signal within `width` Hz of `freq` (an FFT mask: fine for whole recordings)."""
    x = np.asarray(pcm, dtype=np.float64)
    spectrum = np.fft.rfft(x)
    freqs = np.fft.rfftfreq(len(x), 1 / SAMPLE_RATE)
    spectrum[np.abs(freqs - freq) > width] = 0
    return np.fft.irfft(spectrum, len(x))


def envelope(pcm: np.ndarray, freq: float, window: float = 0.005) -> np.ndarray:
    """RMS of the `freq` band in windows of `window` seconds (full-scale sine: ~0.707)."""
    x = band(pcm, freq) / FULL
    n = int(window * SAMPLE_RATE)
    usable = len(x) // n * n
    return np.sqrt(np.mean(x[:usable].reshape(-1, n) ** 2, axis=1))


def runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(start, end) index pairs of the runs of True in `mask`."""
    edges = np.diff(np.concatenate(([0], mask.astype(np.int8), [0])))
    return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1), strict=True))


def db(x: float) -> float:
    return 20 * float(np.log10(max(x, 1e-9)))


async def props_room(server: RunningServer, seated: Sequence[str],
                     audience: Sequence[str] = ()) -> tuple[str, dict[str, WireClient]]:
    """A free-seat chatroom hosted by "host", `seated` on seats 0.., `audience` in."""
    host = await server.client("host")
    rid = (await host.call("create_room", title="props", seat_mode="free"))["room"]["id"]
    await host.call("open_chatroom", room=rid)
    clients = {"host": host}
    for index, user in enumerate(seated):
        clients[user] = await server.client(user)
        await clients[user].call("join_room", room=rid)
        await clients[user].call("take_seat", room=rid, seat=index)
    for user in audience:
        clients[user] = await server.client(user)
        await clients[user].call("join_room", room=rid)
    return rid, clients


async def offer(client: WireClient, rid: str, peer: ClientMedia) -> ClientMedia:
    async def send(sdp: str) -> str:
        reply = await client.call("webrtc_offer", room=rid, sdp=sdp)
        return str(reply["sdp"])

    return await connect(peer, send)
