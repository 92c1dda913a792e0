"""Room mixer: full mix, mix-minus-self, a limiter per output stream, levels.

PURE: numpy only (no asyncio, aiortc, av). One `Mixer` per room, called once per 20 ms tick.

Format everywhere in audio/: 48 kHz mono, 20 ms frames of FRAME_SAMPLES int16 samples.

Per tick the inputs (one decoded frame per heard speaker) are summed once in int32; a
speaker's mix-minus is that sum minus their own frame, so n speakers cost O(n), not O(n²).
Every output stream (the full mix, each talker's mix-minus) runs through its own limiter,
so the output never wraps around and loud sums are turned down smoothly, not clipped.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from audio.levels import FULL_SCALE, LEVEL_FLOOR_DBFS

SAMPLE_RATE = 48000
FRAME_MS = 20
FRAME_SAMPLES = SAMPLE_RATE * FRAME_MS // 1000  # 960
INT16_MAX = 32767
INT16_MIN = -32768

Pcm = npt.NDArray[np.int16]

# Limiter: the gain is computed per block of LIMITER_BLOCK samples (2 ms) and ramps linearly
# between block edges; each edge takes the smaller target of its two blocks, so the gain is
# already down when a block's peak comes (the look-ahead is within the frame: no added delay).
LIMITER_BLOCK = 96
LIMITER_THRESHOLD = 0.89 * INT16_MAX  # about -1 dBFS: peaks above are turned down
LIMITER_RELEASE_MS = 250.0  # time constant of the gain's return to 1
LIMITER_IDLE_TICKS = 500  # a talker's limiter unused this long (10 s) is dropped
FULL = "\x00full"  # key of the full mix's limiter (never a user id: those are printable)


class Limiter:
    """Peak limiter for one output stream: instant (block-wise) attack, exponential release.

    The frame is cut into blocks of LIMITER_BLOCK samples; the gain at each block edge is
    low enough for the peaks of both neighbouring blocks and ramps linearly in between, so
    no sample comes out above the threshold and the gain never jumps inside a frame (it
    may step down at the first sample of a frame that opens loud: there is no look-ahead
    into the next frame, which would cost a frame of delay). The release back to unity is
    exponential. Hard ceiling: the result is clamped to the int16 range, for rounding's sake.
    """

    __slots__ = ("_blocks", "_frac", "_release", "_threshold", "gain")

    def __init__(
        self,
        *,
        threshold: float = LIMITER_THRESHOLD,
        release_ms: float = LIMITER_RELEASE_MS,
        block: int = LIMITER_BLOCK,
    ) -> None:
        if FRAME_SAMPLES % block:
            raise ValueError("block must divide the frame")
        self._threshold = float(threshold)
        self._blocks = FRAME_SAMPLES // block
        block_ms = 1000.0 * block / SAMPLE_RATE
        self._release = float(np.exp(-block_ms / release_ms))
        # Ramp position of each sample inside its block: 1/block .. 1.
        self._frac = (np.arange(1, block + 1, dtype=np.float32) / block)[None, :]
        self.gain = 1.0  # gain at the end of the last frame

    def process(self, mix: npt.NDArray[np.int32]) -> Pcm:
        """Limit one frame of summed samples (int32, any range) to int16."""
        peak = int(np.abs(mix).max()) if mix.size else 0
        if peak <= self._threshold and self.gain >= 1.0:
            return mix.astype(np.int16)  # common case: nothing to do, nothing can wrap
        blocks = self._blocks
        thr = self._threshold
        peaks = np.abs(mix.reshape(blocks, -1)).max(axis=1).tolist()
        targets = [thr / p if p > thr else 1.0 for p in peaks]
        # Gain at each block edge: released from the previous edge, but no higher than what
        # the blocks on both sides of the edge allow.
        g = min(self.gain, targets[0])
        knots = [g]
        last = blocks - 1
        for b in range(blocks):
            released = 1.0 - (1.0 - g) * self._release
            g = min(released, targets[b], targets[b + 1] if b < last else 1.0)
            knots.append(g)
        self.gain = 1.0 if g > 0.999 else g  # within 0.01 dB: back to the fast path
        k = np.asarray(knots, dtype=np.float32)
        gains = k[:-1, None] + (k[1:] - k[:-1])[:, None] * self._frac
        y = mix.astype(np.float32) * gains.reshape(-1)
        np.rint(y, out=y)
        np.minimum(y, INT16_MAX, out=y)  # the hard ceiling (np.clip is 3x slower)
        np.maximum(y, INT16_MIN, out=y)
        return y.astype(np.int16)


@dataclass(slots=True)
class MixResult:
    """One tick's output.

    `full`: the limited mix of every input (what the audience and silent speakers hear).
    `minus`: per requested input key, the limited mix of everyone but that key.
    `levels`: per input key, the 0..1 level of its frame (see audio.levels).
    """

    full: Pcm
    minus: dict[str, Pcm] = field(default_factory=dict)
    levels: dict[str, float] = field(default_factory=dict)


class Mixer:
    """Mixer of one room. Not thread-safe; call from the room's tick only.

    Typical tick:
        result = mixer.mix(frames, minus_keys=())       # full mix + levels
        talkers = tracker.update(result.levels)         # audio.levels.TalkerTracker
        minus = mixer.minus_for(talkers)                 # one mix-minus per talker
    so a tick costs talkers + 1 encodes.
    """

    def __init__(
        self, *, threshold: float = LIMITER_THRESHOLD, release_ms: float = LIMITER_RELEASE_MS
    ) -> None:
        self._threshold = threshold
        self._release_ms = release_ms
        self._limiters: dict[str, Limiter] = {}
        self._last_used: dict[str, int] = {}
        self._tick = 0
        self._sum: npt.NDArray[np.int32] = np.zeros(FRAME_SAMPLES, dtype=np.int32)
        self._stack: Pcm = np.empty((0, FRAME_SAMPLES), dtype=np.int16)
        self._index: dict[str, int] = {}

    def _limiter(self, key: str) -> Limiter:
        lim = self._limiters.get(key)
        if lim is None:
            lim = self._limiters[key] = Limiter(
                threshold=self._threshold, release_ms=self._release_ms
            )
        self._last_used[key] = self._tick
        return lim

    def mix(
        self, frames: Mapping[str, Pcm], minus_keys: Iterable[str] | None = None
    ) -> MixResult:
        """Mix one tick. `frames`: key -> int16 (FRAME_SAMPLES,) frame of each heard input.

        `minus_keys`: the keys to compute a mix-minus for (None: every input key). A key with
        no frame this tick gets the full sum through its own limiter.
        Raises ValueError for a frame of the wrong shape.
        """
        self._tick += 1
        if self._tick % LIMITER_IDLE_TICKS == 0:
            self._prune()
        keys = list(frames)
        if keys:
            # One (n, 960) array: the sum and every level in a few vectorized calls.
            try:
                stack = np.array(list(frames.values()), dtype=np.int16)
            except ValueError:
                stack = np.empty((0, 0), dtype=np.int16)
            if stack.shape != (len(keys), FRAME_SAMPLES):
                bad = next(k for k in keys if np.shape(frames[k]) != (FRAME_SAMPLES,))
                raise ValueError(
                    f"frame of {bad!r} has shape {np.shape(frames[bad])}, not ({FRAME_SAMPLES},)"
                )
            acc = stack.sum(axis=0, dtype=np.int32)
            f = stack.astype(np.float32)
            levels = dict(zip(keys, levels_of(np.einsum("ij,ij->i", f, f)), strict=True))
        else:
            stack = np.empty((0, FRAME_SAMPLES), dtype=np.int16)
            acc = np.zeros(FRAME_SAMPLES, dtype=np.int32)
            levels = {}
        self._sum = acc
        self._stack = stack
        self._index = {key: i for i, key in enumerate(keys)}
        full = self._limiter(FULL).process(acc)
        minus = self.minus_for(keys if minus_keys is None else minus_keys)
        return MixResult(full=full, minus=minus, levels=levels)

    def minus_for(self, keys: Iterable[str]) -> dict[str, Pcm]:
        """Mix-minus of the last `mix()` for each key: the sum without that key's frame."""
        out: dict[str, Pcm] = {}
        for key in keys:
            i = self._index.get(key)
            part = self._sum if i is None else self._sum - self._stack[i]
            out[key] = self._limiter(key).process(part)
        return out

    def remove(self, key: str) -> None:
        """Drop the limiter state of an input that left."""
        self._limiters.pop(key, None)
        self._last_used.pop(key, None)

    def _prune(self) -> None:
        horizon = self._tick - LIMITER_IDLE_TICKS
        for key in [k for k, t in self._last_used.items() if t < horizon and k != FULL]:
            self.remove(key)


def levels_of(sum_squares: npt.NDArray[np.float32]) -> list[float]:
    """0..1 levels (audio.levels' mapping) from each frame's sum of squared samples."""
    mean_squares = np.maximum(sum_squares / (FRAME_SAMPLES * FULL_SCALE * FULL_SCALE), 1e-30)
    dbfs = 10.0 * np.log10(mean_squares)
    levels = (dbfs - LEVEL_FLOOR_DBFS) / -LEVEL_FLOOR_DBFS
    return np.maximum(np.minimum(levels, 1.0), 0.0).tolist()


def silence() -> Pcm:
    """A new silent frame."""
    return np.zeros(FRAME_SAMPLES, dtype=np.int16)
