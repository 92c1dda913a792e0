"""CPU per 20 ms frame of each voice effect: `python -m bench.effects`.

One effect stream per speaker runs once per tick on that speaker's frame, so this is the
cost per effect-speaker per tick. Input is speech-like (bench.mixer_tick's generator);
the figure is thread CPU time per frame (mean, median, p99) over `--seconds` of audio.
"""

from __future__ import annotations

import argparse
import statistics
import time

from audio.constants import FRAME_SAMPLES, SAMPLE_RATE
from audio.effects import EFFECTS, make_effect
from bench.mixer_tick import speech_like


def measure(name: str, seconds: float) -> list[float]:
    """Thread CPU µs for each frame of `seconds` of speech through a fresh `name` effect."""
    pcm = speech_like(seconds, seed=1)
    effect = make_effect(name)
    frames = [pcm[i : i + FRAME_SAMPLES] for i in range(0, len(pcm) - FRAME_SAMPLES + 1,
                                                         FRAME_SAMPLES)]
    for frame in frames[:25]:  # warm caches and the effect's own history
        effect.process(frame)
    costs = []
    for frame in frames:
        start = time.thread_time_ns()
        effect.process(frame)
        costs.append((time.thread_time_ns() - start) / 1000)
    return costs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="audio per effect")
    parser.add_argument("--effects", default=",".join(EFFECTS), help="comma-separated names")
    args = parser.parse_args()
    print(f"{args.seconds:g} s of speech-like audio per effect, "
          f"{FRAME_SAMPLES} samples per frame at {SAMPLE_RATE} Hz; thread CPU µs per frame")
    print(f"{'effect':<12}{'mean':>8}{'median':>8}{'p99':>8}{'latency ms':>12}")
    for name in args.effects.split(","):
        costs = sorted(measure(name, args.seconds))
        p99 = costs[min(len(costs) - 1, int(len(costs) * 0.99))]
        latency_ms = make_effect(name).latency * 1000 / SAMPLE_RATE
        print(f"{name:<12}{statistics.fmean(costs):8.1f}{statistics.median(costs):8.1f}"
              f"{p99:8.1f}{latency_ms:12.1f}")


if __name__ == "__main__":
    main()
