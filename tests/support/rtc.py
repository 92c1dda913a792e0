"""Real aiortc peers for media tests: send a tone, record what comes back, check by FFT.

A peer is a client.media.ClientMedia (the Python client's own media code) playing a sine;
`levels_db` reports the energy at given frequencies of what it received.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from audio.constants import SAMPLE_RATE
from audio.sources import PcmSource, SilenceSource, ToneSource, tone_levels
from client.media import ClientMedia

__all__ = [
    "SAMPLE_RATE",
    "ClientMedia",
    "close_all",
    "connect",
    "levels_db",
    "lossy",
    "silent_peer",
    "tone_peer",
    "wait_for",
    "wait_recorded",
]


def tone_peer(freq: float | None, *, receive: bool = True, amplitude: float = 0.3) -> ClientMedia:
    """A peer sending a sine of ``freq`` Hz (None: receive only)."""
    source: PcmSource | None = ToneSource(freq, amplitude) if freq is not None else None
    return ClientMedia(source, receive=receive)


def silent_peer() -> ClientMedia:
    return ClientMedia(SilenceSource(), receive=True)


def lossy(peer: ClientMedia, rate: float, seed: int = 1) -> ClientMedia:
    """Drop ``rate`` of the peer's outgoing RTP packets (seeded: the run is repeatable)."""
    peer.drop_outgoing_rtp(rate, random.Random(seed))
    return peer


def levels_db(
    peer: ClientMedia, freqs: Iterable[float], seconds: float = 1.0
) -> dict[float, float]:
    """dB (re full-scale sine) at each frequency over the last ``seconds`` received."""
    return tone_levels(peer.samples(seconds), list(freqs))


async def wait_for(
    predicate: Callable[[], bool], timeout: float = 10.0, interval: float = 0.05
) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met in time")
        await asyncio.sleep(interval)


async def wait_recorded(
    peers: Iterable[ClientMedia], seconds: float, timeout: float = 15.0
) -> None:
    """Wait until every peer has recorded ``seconds`` of audio from now on."""
    peers = list(peers)
    marks = [p.recorder.frames for p in peers]
    frames = int(seconds * SAMPLE_RATE / 960)
    await wait_for(
        lambda: all(p.recorder.frames - m >= frames for p, m in zip(peers, marks, strict=True)),
        timeout,
    )


async def connect(peer: ClientMedia, offer: Callable[[str], Awaitable[Any]]) -> ClientMedia:
    """Offer through ``offer(sdp) -> answer sdp`` and wait until the connection is up."""
    await peer.connect(offer)
    await wait_for(lambda: peer.pc.connectionState == "connected", 10.0)
    return peer


async def close_all(peers: Iterable[ClientMedia]) -> None:
    await asyncio.gather(*(p.close() for p in peers), return_exceptions=True)
