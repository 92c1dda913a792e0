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

from audio.constants import FRAME_SAMPLES, SAMPLE_RATE
from audio.levels import FULL_SCALE, LEVEL_FLOOR_DBFS

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
# From this many mix-minus streams on, their limiters run vectorized (process_many); below,
# one by one is faster.
BATCH_FROM = 4
FULL = "\x00full"  # key of the full mix's limiter (never a user id: those are printable)


class Limiter:
    """Peak limiter for one output stream: instant (block-wise) attack, exponential release.

    The frame is cut into blocks of LIMITER_BLOCK samples; the gain at each block edge is
    low enough for the peaks of both neighbouring blocks and ramps linearly in between, so
    no sample comes out above the threshold and the gain never jumps inside a frame (it
    may step down at the first sample of a frame that opens loud: there is no look-ahead
    into the next frame, which would cost a frame of delay). The release back to unity is
    exponential. Hard ceiling: the result is clamped to the int16 range, for rounding's sake.

    `process_many` runs the limiters of several streams (one gain each) in the same few
    numpy calls: the mixer limits all its mix-minus streams at once.
    """

    __slots__ = ("_blocks", "_frac", "_rinv", "_rpow", "_threshold", "gain")

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
        release = float(np.exp(-block_ms / release_ms))  # per block
        edges = np.arange(self._blocks + 1)
        self._rpow = release**edges
        self._rinv = release ** (-edges)
        # Ramp position of each sample inside its block: 1/block .. 1.
        self._frac = (np.arange(1, block + 1, dtype=np.float32) / block)[None, None, :]
        self.gain = 1.0  # gain at the end of the last frame

    def process(self, mix: npt.NDArray[np.int32]) -> Pcm:
        """Limit one frame of summed samples (int32, any range) to int16."""
        out, self.gain = self.process_one(mix, self.gain)
        return out

    def process_one(self, mix: npt.NDArray[np.int32], gain: float) -> tuple[Pcm, float]:
        """Limit one stream whose limiter gain is `gain`: (frame, new gain).

        Same result as `process_many`; plain Python floats for the per-block recursion are
        faster than numpy's per-call overhead when there are only a few streams.
        """
        thr = self._threshold
        if gain >= 1.0 and int(np.abs(mix).max()) <= thr:
            return mix.astype(np.int16), 1.0  # common case: nothing to do, nothing can wrap
        blocks = self._blocks
        peaks = np.abs(mix.reshape(blocks, -1)).max(axis=1).tolist()
        targets = [thr / p if p > thr else 1.0 for p in peaks]
        release = float(self._rpow[1])
        g = min(gain, targets[0])
        knots = [g]
        last = blocks - 1
        for b in range(blocks):
            g = min(1.0 - (1.0 - g) * release, targets[b], targets[b + 1] if b < last else 1.0)
            knots.append(g)
        k = np.asarray(knots, dtype=np.float32)
        ramp = k[:-1, None] + (k[1:] - k[:-1])[:, None] * self._frac[0]
        y = mix.astype(np.float32) * ramp.reshape(-1)
        np.rint(y, out=y)
        np.minimum(y, INT16_MAX, out=y)  # the hard ceiling (np.clip is 3x slower)
        np.maximum(y, INT16_MIN, out=y)
        g = float(k[-1])
        return y.astype(np.int16), 1.0 if g > 0.999 else g

    def process_many(
        self, mixes: npt.NDArray[np.int32], gains: npt.NDArray[np.float64]
    ) -> npt.NDArray[np.int16]:
        """Limit k streams, `mixes` (k, FRAME_SAMPLES); `gains` (k,) is updated in place."""
        thr = self._threshold
        slow = (np.abs(mixes).max(axis=1) > thr) | (gains < 1.0)
        if not slow.any():
            return mixes.astype(np.int16)  # common case: nothing to do, nothing can wrap
        out = np.empty(mixes.shape, dtype=np.int16)
        if not slow.all():
            out[~slow] = mixes[~slow]
        x = mixes[slow].reshape(-1, self._blocks, FRAME_SAMPLES // self._blocks)
        peaks = np.abs(x).max(axis=2)
        targets = np.minimum(1.0, thr / np.maximum(peaks, 1))
        # Gain at each block edge: no higher than what the blocks on both sides allow...
        edge = targets.copy()
        np.minimum(targets[:, :-1], targets[:, 1:], out=edge[:, :-1])
        # ...and released from the previous edge: with h = 1 - gain, h[j] = max(need[j],
        # h[j-1] * r), which is max over i <= j of need[i] * r^(j-i): one accumulate.
        need = np.empty((x.shape[0], self._blocks + 1))
        need[:, 0] = 1.0 - np.minimum(gains[slow], targets[:, 0])
        need[:, 1:] = 1.0 - edge
        knots = (1.0 - np.maximum.accumulate(need * self._rinv, axis=1) * self._rpow).astype(
            np.float32
        )
        ramp = knots[:, :-1, None] + (knots[:, 1:] - knots[:, :-1])[:, :, None] * self._frac
        y = x.astype(np.float32) * ramp
        np.rint(y, out=y)
        np.minimum(y, INT16_MAX, out=y)  # the hard ceiling (np.clip is 3x slower)
        np.maximum(y, INT16_MIN, out=y)
        out[slow] = y.reshape(-1, FRAME_SAMPLES)
        last = knots[:, -1].astype(np.float64)
        last[last > 0.999] = 1.0  # within 0.01 dB: back to the fast path
        gains[slow] = last
        return out


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
        self._limiter = Limiter(threshold=threshold, release_ms=release_ms)
        self._gains: dict[str, float] = {}  # limiter gain of each output stream
        self._last_used: dict[str, int] = {}
        self._tick = 0
        self._sum: npt.NDArray[np.int32] = np.zeros(FRAME_SAMPLES, dtype=np.int32)
        self._stack: Pcm = np.empty((0, FRAME_SAMPLES), dtype=np.int16)
        self._index: dict[str, int] = {}

    def _limit_one(self, key: str, mix: npt.NDArray[np.int32]) -> Pcm:
        out, self._gains[key] = self._limiter.process_one(mix, self._gains.get(key, 1.0))
        self._last_used[key] = self._tick
        return out

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
        full = self._limit_one(FULL, acc)
        minus = self.minus_for(keys if minus_keys is None else minus_keys)
        return MixResult(full=full, minus=minus, levels=levels)

    def minus_for(self, keys: Iterable[str]) -> dict[str, Pcm]:
        """Mix-minus of the last `mix()` for each key: the sum without that key's frame."""
        wanted = list(dict.fromkeys(keys))
        index = self._index
        if len(wanted) < BATCH_FROM:
            out: dict[str, Pcm] = {}
            for key in wanted:
                i = index.get(key)
                part = self._sum if i is None else self._sum - self._stack[i]
                out[key] = self._limit_one(key, part)
            return out
        mixes = np.repeat(self._sum[None, :], len(wanted), axis=0)
        rows = [i for i, key in enumerate(wanted) if key in index]
        if rows:
            mixes[rows] -= self._stack[[index[wanted[i]] for i in rows]]
        gains = np.array([self._gains.get(k, 1.0) for k in wanted])
        limited = self._limiter.process_many(mixes, gains)
        tick = self._tick
        for key, gain in zip(wanted, gains.tolist(), strict=True):
            self._gains[key] = gain
            self._last_used[key] = tick
        return dict(zip(wanted, limited, strict=True))

    def remove(self, key: str) -> None:
        """Drop the limiter state of an input that left."""
        self._gains.pop(key, None)
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
