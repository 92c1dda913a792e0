"""audio.mixer: full mix, mix-minus-self, the limiter, levels. Pure: no codec involved."""

from __future__ import annotations

import itertools

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from audio.mixer import (
    FRAME_SAMPLES,
    LIMITER_THRESHOLD,
    SAMPLE_RATE,
    Limiter,
    Mixer,
    silence,
)

N = FRAME_SAMPLES
Pcm = npt.NDArray[np.int16]


def tone(freq: float, amp: float, frame: int = 0, phase: float = 0.0) -> Pcm:
    """Frame number `frame` of a continuous sine of `amp` (fraction of full scale)."""
    t = (np.arange(N) + frame * N) / SAMPLE_RATE
    return np.round(amp * 32767 * np.sin(2 * np.pi * freq * t + phase)).astype(np.int16)


def band_db(x: npt.NDArray[np.generic], freq: float, width: float = 60.0) -> float:
    spectrum = np.abs(np.fft.rfft(x.astype(np.float64) * np.hanning(len(x)))) ** 2
    freqs = np.fft.rfftfreq(len(x), 1 / SAMPLE_RATE)
    return float(10 * np.log10(spectrum[np.abs(freqs - freq) <= width].sum() + 1e-9))


def purity_db(x: npt.NDArray[np.generic], freq: float) -> float:
    """Energy near `freq` against all the rest (distortion, noise), in dB."""
    spectrum = np.abs(np.fft.rfft(x.astype(np.float64) * np.hanning(len(x)))) ** 2
    freqs = np.fft.rfftfreq(len(x), 1 / SAMPLE_RATE)
    near = spectrum[np.abs(freqs - freq) <= 100].sum()
    return float(10 * np.log10(near / (spectrum.sum() - near + 1e-9)))


FREQS = {"a": 500.0, "b": 1300.0, "c": 2900.0}


def test_full_mix_contains_every_input() -> None:
    mixer = Mixer()
    out = []
    for i in range(10):
        result = mixer.mix({k: tone(f, 0.2, i) for k, f in FREQS.items()})
        assert result.full.dtype == np.int16 and result.full.shape == (N,)
        out.append(result.full)
    full = np.concatenate(out)
    floor = band_db(full, 2000)
    for f in FREQS.values():
        assert band_db(full, f) > floor + 40
    # Below the limiter's threshold the mix is the exact sum.
    expected = sum(tone(f, 0.2, 9).astype(np.int32) for f in FREQS.values())
    assert np.array_equal(out[-1], expected)


def test_minus_self_excludes_own_input() -> None:
    mixer = Mixer()
    fulls: list[Pcm] = []
    minus: dict[str, list[Pcm]] = {k: [] for k in FREQS}
    for i in range(10):
        result = mixer.mix({k: tone(f, 0.2, i) for k, f in FREQS.items()})
        fulls.append(result.full)
        assert set(result.minus) == set(FREQS)  # minus_keys=None: one per input
        for k in FREQS:
            minus[k].append(result.minus[k])
    full = np.concatenate(fulls)
    for key, own in FREQS.items():
        mine = np.concatenate(minus[key])
        assert band_db(mine, own) < band_db(full, own) - 30
        for other, f in FREQS.items():
            if other != key:
                assert band_db(mine, f) > band_db(full, f) - 1


def test_minus_for_only_the_keys_asked() -> None:
    mixer = Mixer()
    frames = {k: tone(f, 0.2) for k, f in FREQS.items()}
    result = mixer.mix(frames, minus_keys=())
    assert result.minus == {}
    assert set(result.levels) == set(FREQS)
    minus = mixer.minus_for(["a", "ghost"])
    assert set(minus) == {"a", "ghost"}
    assert np.array_equal(minus["a"], frames["b"].astype(np.int32) + frames["c"])
    # A key without a frame this tick (a silent speaker) hears everyone.
    assert np.array_equal(minus["ghost"], result.full)
    assert set(mixer.mix(frames, minus_keys=["b"]).minus) == {"b"}


def test_empty_room_is_silent() -> None:
    result = Mixer().mix({})
    assert np.array_equal(result.full, silence())
    assert result.minus == {} and result.levels == {}


def test_bad_frames_raise_and_odd_dtypes_convert() -> None:
    mixer = Mixer()
    with pytest.raises(ValueError, match="'b'"):
        mixer.mix({"a": tone(500, 0.1), "b": np.zeros(480, dtype=np.int16)})
    with pytest.raises(ValueError, match="'a'"):
        mixer.mix({"a": np.zeros((N, 2), dtype=np.int16)})
    result = mixer.mix({"a": tone(500, 0.1).astype(np.float32)})
    assert np.array_equal(result.full, tone(500, 0.1))


def loud_room(frame: int) -> dict[str, Pcm]:
    # Nine full-scale speakers, several in phase: the raw sum reaches ~9x full scale.
    return {f"s{i}": tone(200 + 100 * (i % 3), 1.0, frame) for i in range(9)}


def test_nine_full_scale_speakers_never_wrap() -> None:
    mixer = Mixer()
    for i in range(50):
        frames = loud_room(i)
        intended = np.sum([f.astype(np.int64) for f in frames.values()], axis=0)
        assert np.abs(intended).max() > 5 * 32767  # the test is meant to overload
        result = mixer.mix(frames)
        for out, own in [(result.full, None), *((result.minus[k], k) for k in frames)]:
            target = intended if own is None else intended - frames[own]
            assert out.dtype == np.int16
            big = np.abs(target) > 2000
            # Wraparound would flip signs: every large sample keeps the sign of the sum.
            assert np.all(np.sign(out[big]) == np.sign(target[big]))
            assert np.abs(out.astype(np.int32)).max() <= 32767
            # Limited, not clipped: hardly any sample sits at the ceiling.
            assert np.count_nonzero(np.abs(out.astype(np.int32)) >= 32767) <= N // 100


def test_limiter_turns_down_without_harsh_distortion() -> None:
    # One tone summed nine times: a clean tone must come out, not a clipped square wave.
    mixer = Mixer()
    out = np.concatenate(
        [mixer.mix({f"s{i}": tone(440, 1.0, j) for i in range(9)}).full for j in range(25)]
    )
    steady = out[5 * N :]
    assert np.abs(steady.astype(np.int32)).max() <= LIMITER_THRESHOLD + 1
    assert purity_db(steady, 440) > 30
    clipped = np.clip(9 * np.concatenate([tone(440, 1.0, j) for j in range(5, 25)]).astype(
        np.int64
    ), -32768, 32767)
    assert purity_db(clipped, 440) < 20  # what plain clipping would have sounded like


def test_limiter_attacks_within_the_frame_and_releases_slowly() -> None:
    lim = Limiter()
    quiet = 4 * tone(300, 0.1).astype(np.int32)  # 0.4 of full scale: below the threshold
    loud = 9 * tone(300, 1.0).astype(np.int32)
    assert np.array_equal(lim.process(quiet), quiet)
    assert lim.gain == 1.0
    # Onset: the very first loud frame stays under the threshold.
    first = lim.process(loud)
    assert np.abs(first.astype(np.int32)).max() <= LIMITER_THRESHOLD + 1
    for _ in range(10):
        lim.process(loud)
    assert lim.gain < 0.2
    # Release: the quiet signal comes back gradually, never jumping, then exactly.
    ratios = []
    for _ in range(200):
        out = lim.process(quiet)
        ratios.append(np.abs(out.astype(np.float64)).max() / np.abs(quiet).max())
    assert ratios[0] < 0.3
    assert all(b >= a - 1e-3 for a, b in itertools.pairwise(ratios))
    # Slow: after 100 ms (5 ticks) still well below unity, after 4 s back to exact.
    assert ratios[4] < 0.6
    assert lim.gain == 1.0
    assert np.array_equal(lim.process(quiet), quiet)


def test_limiters_are_per_output_stream() -> None:
    # Only speaker "loud" is loud: the full mix and the others' mix-minus are limited, but
    # the loud speaker's own mix-minus (everyone else: quiet) passes untouched.
    mixer = Mixer()
    for i in range(5):
        frames = {"loud": tone(300, 1.0, i), "q1": tone(700, 0.05, i), "q2": tone(900, 0.05, i)}
        result = mixer.mix(frames)
    raw = sum(f.astype(np.int32) for f in frames.values())
    assert np.array_equal(result.minus["loud"], frames["q1"].astype(np.int32) + frames["q2"])
    for out in (result.full, result.minus["q1"], result.minus["q2"]):
        assert np.abs(out.astype(np.int32)).max() <= LIMITER_THRESHOLD + 1
    assert np.abs(raw).max() > LIMITER_THRESHOLD + 1000


def test_levels_map_dbfs_to_unit_range() -> None:
    mixer = Mixer()
    a30 = np.sqrt(2) * 10 ** (-30 / 20)  # amplitude of a -30 dBFS (RMS) sine
    frames = {
        "full": tone(1000, 1.0),
        "mid": tone(1000, a30),
        "quiet": tone(1000, 0.0005),  # about -69 dBFS: below the floor
        "silent": silence(),
    }
    levels = mixer.mix(frames).levels
    assert levels["full"] == pytest.approx(1 - 3.01 / 60, abs=0.005)
    assert levels["mid"] == pytest.approx(0.5, abs=0.005)
    assert levels["quiet"] == 0.0
    assert levels["silent"] == 0.0


def test_batched_limiters_match_one_by_one() -> None:
    # The mixer limits many mix-minus streams in one vectorized pass (BATCH_FROM and up):
    # it must do exactly what the per-stream limiter does, frame after frame.
    rng = np.random.default_rng(3)
    batch = Limiter()
    singles = [Limiter() for _ in range(6)]
    gains = np.ones(6)
    for i in range(60):
        loudness = [0.2, 1.5, 4.0, 0.5, 9.0, 0.05] if i < 30 else [0.3] * 6
        mixes = np.stack(
            [(a * tone(300 + 97 * k, 1.0, i)).astype(np.int32) for k, a in enumerate(loudness)]
        )
        mixes += rng.integers(-50, 50, mixes.shape, dtype=np.int32)
        together = batch.process_many(mixes, gains)
        for k, lim in enumerate(singles):
            alone = lim.process(mixes[k])
            assert np.abs(together[k].astype(np.int32) - alone).max() <= 1
            assert gains[k] == pytest.approx(lim.gain, abs=1e-5)


def test_many_talkers_minus_is_exact_below_threshold() -> None:
    mixer = Mixer()
    frames = {f"s{i}": tone(200 + 150 * i, 0.05, 0) for i in range(9)}
    result = mixer.mix(frames)  # nine mix-minus streams: the batched path
    total = np.sum([f.astype(np.int32) for f in frames.values()], axis=0)
    for key, frame in frames.items():
        assert np.array_equal(result.minus[key], total - frame)
    minus = mixer.minus_for(["s0", "s0", "nobody", "s1", "s2", "s3"])
    assert set(minus) == {"s0", "nobody", "s1", "s2", "s3"}
    assert np.array_equal(minus["nobody"], total)


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(0, 9),
    seed=st.integers(0, 2**32 - 1),
    scale=st.sampled_from([0.01, 0.3, 1.0]),
    ticks=st.integers(1, 4),
)
def test_any_frames_mix_without_wrapping(n: int, seed: int, scale: float, ticks: int) -> None:
    rng = np.random.default_rng(seed)
    mixer = Mixer()
    for _ in range(ticks):
        frames = {
            f"u{i}": np.round(rng.uniform(-scale, scale, N) * 32767).astype(np.int16)
            for i in range(n)
        }
        result = mixer.mix(frames)
        total = np.sum([f.astype(np.int64) for f in frames.values()], axis=0) if n else np.zeros(N)
        outs = [(result.full, total)] + [(result.minus[k], total - f) for k, f in frames.items()]
        for out, want in outs:
            assert out.dtype == np.int16 and out.shape == (N,)
            loud = np.abs(want) > LIMITER_THRESHOLD
            assert np.all(np.sign(out[loud]) == np.sign(want[loud]))
            # Never louder than intended, and only ever turned down, never up.
            assert np.all(np.abs(out.astype(np.int64)) <= np.abs(want) + 1)
        assert set(result.levels) == set(frames)
        assert all(0.0 <= v <= 1.0 for v in result.levels.values())
