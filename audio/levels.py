"""Audio levels: RMS in dBFS, the 0..1 level scale, RFC 6464 levels, speaking detection.

PURE: numpy only (no asyncio, aiortc, av).

The 0..1 scale (the `speaking` event's `levels`, the mixer's `levels`) is linear in decibels:

    level = (dBFS - LEVEL_FLOOR_DBFS) / -LEVEL_FLOOR_DBFS, clipped to 0..1

so -60 dBFS (and anything quieter, digital silence included) is 0.0, -30 dBFS is 0.5 and a
full-scale square wave (0 dBFS) is 1.0; a full-scale sine is -3 dBFS, 0.95. dBFS here is the
RMS of a frame relative to 32767, the same reference as RFC 6464's dBov, so a level from the
`ssrc-audio-level` header extension lands on the same scale: `level_from_rfc6464(dbov)`.
Normal speech sits around -35..-15 dBFS, 0.4..0.75.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FULL_SCALE = 32767.0
LEVEL_FLOOR_DBFS = -60.0
SILENCE_DBFS = -127.0  # what digital silence reports; RFC 6464's quietest value

# Speaking detection (tuned on 20 ms ticks): speech onsets clear -45 dBFS within a tick or
# two, while the background noise of a typical laptop mic after the browser's noise
# suppression stays below -55 dBFS; the 10 dB gap keeps the state from flickering, and the
# 15-tick (300 ms) hold bridges the pauses between words.
SPEAKING_ON_DBFS = -45.0
SPEAKING_OFF_DBFS = -55.0
SPEAKING_ON_TICKS = 2
SPEAKING_OFF_TICKS = 15
# `speaking` goes out at most 5 times a second: every 10 ticks of 20 ms at the most.
SPEAKING_MIN_INTERVAL_TICKS = 10
# A level change smaller than this is not worth an event (0.05 is 3 dB on the 0..1 scale).
SPEAKING_MIN_CHANGE = 0.05
# The reported level is a peak meter: it jumps up at once and falls 0.01 a tick (30 dB/s), so
# one loud syllable between two reports is not lost and a pause does not zero it at once.
SPEAKING_FALL_PER_TICK = 0.01


def rms_dbfs(pcm: npt.NDArray[np.int16]) -> float:
    """RMS level of one frame in dBFS (0 = full-scale square wave); silence -> SILENCE_DBFS."""
    x = pcm.astype(np.float32)
    mean_square = float(np.dot(x, x)) / max(1, x.size)
    return dbfs_from_mean_square(mean_square)


def dbfs_from_mean_square(mean_square: float) -> float:
    if mean_square <= 0.0:
        return SILENCE_DBFS
    return max(SILENCE_DBFS, 10.0 * math.log10(mean_square / (FULL_SCALE * FULL_SCALE)))


def level_from_dbfs(dbfs: float) -> float:
    """Map dBFS to the 0..1 level scale (linear in dB from LEVEL_FLOOR_DBFS to 0)."""
    if dbfs <= LEVEL_FLOOR_DBFS:
        return 0.0
    if dbfs >= 0.0:
        return 1.0
    return (dbfs - LEVEL_FLOOR_DBFS) / -LEVEL_FLOOR_DBFS


def dbfs_from_level(level: float) -> float:
    """Inverse of `level_from_dbfs` for levels above 0 (0.0 maps to the floor)."""
    level = min(1.0, max(0.0, level))
    return LEVEL_FLOOR_DBFS + level * -LEVEL_FLOOR_DBFS


def level_from_rfc6464(dbov: int) -> float:
    """Level (0..1) from an RFC 6464 audio level: `dbov` is -dBov, 0 (loudest) to 127 (silence).

    aiortc parses the header extension into `packet.extensions.audio_level`; out-of-range
    values are clamped rather than trusted.
    """
    dbov = min(127, max(0, int(dbov)))
    return level_from_dbfs(-float(dbov))


def frame_level(pcm: npt.NDArray[np.int16]) -> float:
    """The 0..1 level of one frame."""
    return level_from_dbfs(rms_dbfs(pcm))


@dataclass(slots=True)
class _SpeakerState:
    speaking: bool = False
    above: int = 0  # consecutive ticks above the on threshold
    below: int = 0  # consecutive ticks below the off threshold
    meter: float = 0.0  # peak meter: rises at once, falls SPEAKING_FALL_PER_TICK a tick
    reported: float = 0.0  # what the last `speaking` event said about this user


class SpeakingDetector:
    """Who is speaking, with hysteresis, rate-limited for the `speaking` event.

    Call `update(levels)` once per 20 ms tick with the 0..1 level of every heard user (from
    the mixer or from RFC 6464). It returns `{user: level}` for the users whose reported
    level changed meaningfully — empty on most ticks, never more often than once per
    `min_interval_ticks`. A user is reported with a peak-meter level while speaking and
    with 0.0 once they stop. A user missing from `levels` (muted, unseated,
    gone) is reported 0.0 once and forgotten.
    """

    def __init__(
        self,
        *,
        on_dbfs: float = SPEAKING_ON_DBFS,
        off_dbfs: float = SPEAKING_OFF_DBFS,
        on_ticks: int = SPEAKING_ON_TICKS,
        off_ticks: int = SPEAKING_OFF_TICKS,
        min_interval_ticks: int = SPEAKING_MIN_INTERVAL_TICKS,
        min_change: float = SPEAKING_MIN_CHANGE,
    ) -> None:
        if off_dbfs > on_dbfs:
            raise ValueError("off_dbfs must not exceed on_dbfs")
        if on_ticks < 1 or off_ticks < 1 or min_interval_ticks < 1:
            raise ValueError("tick counts must be at least 1")
        self._on = level_from_dbfs(on_dbfs)
        self._off = level_from_dbfs(off_dbfs)
        self._on_ticks = on_ticks
        self._off_ticks = off_ticks
        self._interval = min_interval_ticks
        self._min_change = min_change
        self._users: dict[str, _SpeakerState] = {}
        self._gone: set[str] = set()
        # Allow the first report right away.
        self._since_report = min_interval_ticks

    def speaking(self) -> set[str]:
        """Users currently speaking (after hysteresis)."""
        return {user for user, st in self._users.items() if st.speaking}

    def remove(self, user: str) -> None:
        """Forget a user; if they were last reported above 0, the next report says 0.0."""
        st = self._users.pop(user, None)
        if st is not None and st.reported > 0.0:
            self._gone.add(user)

    def update(self, levels: Mapping[str, float]) -> dict[str, float]:
        self._since_report += 1
        for user in [u for u in self._users if u not in levels]:
            self.remove(user)
        for user, level in levels.items():
            st = self._users.get(user)
            if st is None:
                st = self._users[user] = _SpeakerState()
                self._gone.discard(user)
            self._step(st, level)
        if self._since_report < self._interval:
            return {}
        changes = self._changes()
        if changes:
            self._since_report = 0
        return changes

    def _step(self, st: _SpeakerState, level: float) -> None:
        if level >= self._on:
            st.above += 1
        else:
            st.above = 0
        if level < self._off:
            st.below += 1
        else:
            st.below = 0
        if not st.speaking and st.above >= self._on_ticks:
            st.speaking = True
        elif st.speaking and st.below >= self._off_ticks:
            st.speaking = False
        st.meter = max(level, st.meter - SPEAKING_FALL_PER_TICK)

    def _changes(self) -> dict[str, float]:
        changes = {user: 0.0 for user in self._gone}
        self._gone.clear()
        for user, st in self._users.items():
            # A speaking user is never reported as 0.0: that means "stopped".
            value = max(0.001, round(st.meter, 3)) if st.speaking else 0.0
            flipped = (value > 0.0) != (st.reported > 0.0)
            if flipped or abs(value - st.reported) >= self._min_change:
                changes[user] = value
                st.reported = value
        return changes


class TalkerTracker:
    """Which heard users need a mix-minus of their own this tick.

    A speaker whose frame is (near) silent hears the shared full mix, whose content then is
    the same as their mix-minus: one encode serves them with the audience. A speaker turns
    into a talker on the first tick their level reaches `on_dbfs` (no delay: their own voice
    must never come back to them) and stays one for `hold_ticks` after falling below it, so
    a listener's stream does not flip between the shared encoder and their own every pause.
    A tick without their frame (a late packet, a silent one not decoded) counts as quiet:
    the shared encoder still carries their last words in its overlap. `remove` forgets a
    speaker who is no longer heard.
    """

    def __init__(self, *, on_dbfs: float = -50.0, hold_ticks: int = 50) -> None:
        self._on = level_from_dbfs(on_dbfs)
        self._hold = hold_ticks
        self._quiet: dict[str, int] = {}

    def update(self, levels: Mapping[str, float]) -> set[str]:
        for user, level in levels.items():
            if level >= self._on:
                self._quiet[user] = -1  # counted up to 0 below, with the others
        for user in list(self._quiet):
            self._quiet[user] += 1
            if self._quiet[user] > self._hold:
                del self._quiet[user]
        return set(self._quiet)

    def talkers(self) -> set[str]:
        return set(self._quiet)

    def remove(self, users: Iterable[str]) -> None:
        for user in users:
            self._quiet.pop(user, None)
