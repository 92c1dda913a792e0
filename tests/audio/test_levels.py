"""audio.levels: dBFS, the 0..1 scale, RFC 6464 levels, speaking detection, talkers."""

from __future__ import annotations

import itertools
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from audio.constants import FRAME_SAMPLES, SAMPLE_RATE
from audio.levels import (
    SILENCE_DBFS,
    SpeakingDetector,
    TalkerTracker,
    dbfs_from_level,
    frame_level,
    level_from_dbfs,
    level_from_rfc6464,
    rms_dbfs,
)

N = FRAME_SAMPLES


def sine(dbfs: float, freq: float = 440.0) -> np.ndarray:
    amp = np.sqrt(2) * 32767 * 10 ** (dbfs / 20)
    return np.round(amp * np.sin(2 * np.pi * freq * np.arange(N) / SAMPLE_RATE)).astype(np.int16)


def lv(dbfs: float) -> float:
    return level_from_dbfs(dbfs)


def test_rms_dbfs() -> None:
    square = np.where(np.arange(N) % 2 == 0, 32767, -32767).astype(np.int16)
    assert rms_dbfs(square) == pytest.approx(0.0, abs=0.01)
    assert rms_dbfs(sine(-20.0)) == pytest.approx(-20.0, abs=0.05)
    assert rms_dbfs(np.zeros(N, dtype=np.int16)) == SILENCE_DBFS


def test_level_scale() -> None:
    assert level_from_dbfs(0.0) == 1.0
    assert level_from_dbfs(-30.0) == pytest.approx(0.5)
    assert level_from_dbfs(-60.0) == 0.0
    assert level_from_dbfs(-100.0) == 0.0
    assert level_from_dbfs(5.0) == 1.0
    assert dbfs_from_level(level_from_dbfs(-42.0)) == pytest.approx(-42.0)
    assert frame_level(sine(-15.0)) == pytest.approx(0.75, abs=0.005)


def test_rfc6464_levels_share_the_scale() -> None:
    assert level_from_rfc6464(0) == 1.0
    assert level_from_rfc6464(30) == pytest.approx(0.5)
    assert level_from_rfc6464(127) == 0.0
    assert level_from_rfc6464(-5) == 1.0  # clamped, not trusted
    assert level_from_rfc6464(500) == 0.0
    # A browser would send round(-dBov) for this frame: the same level, to within 1 dB.
    frame = sine(-23.4)
    assert level_from_rfc6464(round(-rms_dbfs(frame))) == pytest.approx(
        frame_level(frame), abs=1 / 60
    )


def feed(det: SpeakingDetector, levels: list[dict[str, float]]) -> list[dict[str, float]]:
    return [det.update(x) for x in levels]


def test_speaking_turns_on_after_two_ticks_above() -> None:
    det = SpeakingDetector()
    # One loud tick alone (a click) does not count.
    feed(det, [{"u": lv(-30)}, {"u": lv(-70)}, {"u": lv(-30)}, {"u": lv(-70)}])
    assert det.speaking() == set()
    out = feed(det, [{"u": lv(-30)}, {"u": lv(-30)}])
    assert det.speaking() == {"u"}
    assert out[-1] == {"u": pytest.approx(lv(-30), abs=0.002)}


def test_speaking_hysteresis_and_hold() -> None:
    det = SpeakingDetector()
    feed(det, [{"u": lv(-30)}] * 3)
    # Between the thresholds (-50 dBFS) it stays on indefinitely.
    feed(det, [{"u": lv(-50)}] * 100)
    assert det.speaking() == {"u"}
    # Below -55 dBFS it takes 15 ticks to turn off; a word in between restarts the count.
    feed(det, [{"u": lv(-70)}] * 14)
    assert det.speaking() == {"u"}
    feed(det, [{"u": lv(-30)}] + [{"u": lv(-70)}] * 14)
    assert det.speaking() == {"u"}
    out = feed(det, [{"u": lv(-70)}] * 20)
    assert det.speaking() == set()
    assert {"u": 0.0} in out
    # A user between the thresholds who was not speaking does not turn on.
    feed(det, [{"u": lv(-50)}] * 50)
    assert det.speaking() == set()


def test_speaking_reports_are_rate_limited_and_only_changes() -> None:
    det = SpeakingDetector()
    rng = np.random.default_rng(7)
    reports = []
    for tick in range(500):  # 10 s
        wobbly = float(rng.uniform(lv(-40), lv(-10)))
        reports.append((tick, det.update({"steady": lv(-20), "wobbly": wobbly})))
    sent = [(t, r) for t, r in reports if r]
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(sent)]
    assert min(gaps) >= 10  # at most 5 a second
    assert len(sent) >= 30  # the wobbly one changes all the time and is reported
    # The steady speaker is reported once (on), then never again while nothing changes.
    assert sum("steady" in r for _, r in sent) == 1
    assert all(0.0 < v <= 1.0 for _, r in sent for v in r.values())


def test_gone_user_is_reported_silent_once() -> None:
    det = SpeakingDetector()
    feed(det, [{"u": lv(-20), "v": lv(-20)}] * 12)
    out = feed(det, [{"v": lv(-20)}] * 12)
    assert [r for r in out if r] == [{"u": 0.0}]
    assert det.speaking() == {"v"}
    # A user who never spoke leaves without a report.
    det2 = SpeakingDetector()
    feed(det2, [{"w": lv(-70)}] * 12)
    assert [r for r in feed(det2, [{}] * 12) if r] == []


def test_detector_rejects_inverted_thresholds() -> None:
    with pytest.raises(ValueError):
        SpeakingDetector(on_dbfs=-55, off_dbfs=-45)


def test_talker_tracker_is_immediate_on_and_held_off() -> None:
    tracker = TalkerTracker(on_dbfs=-50.0, hold_ticks=5)
    assert tracker.update({"a": lv(-70), "b": lv(-70)}) == set()
    assert tracker.update({"a": lv(-30), "b": lv(-70)}) == {"a"}  # the same tick
    for _ in range(5):
        assert tracker.update({"a": lv(-70), "b": lv(-70)}) == {"a"}
    assert tracker.update({"a": lv(-70), "b": lv(-70)}) == set()
    tracker.update({"a": lv(-20)})
    # A tick without a's frame (late, or silent and not decoded) is a quiet one: held.
    for _ in range(5):
        assert tracker.update({}) == {"a"}
    assert tracker.update({}) == set()
    tracker.update({"a": lv(-20)})
    tracker.remove(["a"])  # no longer heard (left the seat): at once
    assert tracker.update({}) == set()


def test_audio_core_is_pure() -> None:
    # tests/test_purity.py scans audio/mixer.py's own imports; this also covers jitter and
    # levels, and what they pull in transitively, in a fresh interpreter.
    code = (
        "import sys, audio.mixer, audio.levels, audio.jitter\n"
        "bad = {'asyncio', 'aiortc', 'av', 'redis', 'websockets'}\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & bad))\n"
    )
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "[]"
