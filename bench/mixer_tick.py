"""CPU per 20 ms mixer tick for one room: `python -m bench.mixer_tick`.

A chatroom with 9 speakers (host + 8 seats), of whom some talk; the others send
near-silent packets as a browser does without DTX. Each tick does what media/session.py does:
jitter push + pop, decode 9 (FEC or PLC where packets were lost), mix with levels, speaking
detection, one encode of the full mix (shared by the whole audience, whatever its size)
and one mix-minus encode per talker. Fan-out to listeners is not in here (bench/fanout.py).

Prints CPU µs per tick (mean, median, p99; thread CPU time, so a busy machine inflates
it less than wall time would) and the share of each step.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from audio.constants import FRAME_SAMPLES, SAMPLE_RATE
from audio.jitter import JitterBuffer
from audio.levels import SpeakingDetector, TalkerTracker
from audio.mixer import Mixer
from audio.opus import OpusDecoder, OpusEncoder, output_encoder, version

TICK_US = 20_000
STEPS = ("push", "pop", "decode", "mix", "levels", "encode")


def speech_like(seconds: float, seed: int) -> npt.NDArray[np.int16]:
    """A voiced, syllable-modulated harmonic signal, about -22 dBFS RMS with peaks at -10
    (not silence, not a pure tone: the encoder works about as hard as on speech)."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SAMPLE_RATE)
    t = np.arange(n) / SAMPLE_RATE
    f0 = 120 + 30 * np.sin(2 * np.pi * 0.7 * t) + 10 * seed
    phase = 2 * np.pi * np.cumsum(f0) / SAMPLE_RATE
    voice = sum(np.sin(k * phase) / k for k in range(1, 16))
    syllables = 0.5 * (1 + np.sin(2 * np.pi * 4 * t)) ** 2
    noise = rng.normal(0, 0.02, n)
    x = 0.08 * voice * syllables + noise
    return np.clip(x * 32767, -32768, 32767).astype(np.int16)


def room_noise(seconds: float, seed: int) -> npt.NDArray[np.int16]:
    """A muted-ish mic: noise around -65 dBFS."""
    rng = np.random.default_rng(seed)
    return rng.normal(0, 20, int(seconds * SAMPLE_RATE)).astype(np.int16)


def encode_stream(pcm: npt.NDArray[np.int16]) -> list[bytes]:
    # What a browser sends: 32 kb/s mono Opus with in-band FEC.
    enc = OpusEncoder(bitrate=32000, complexity=9, fec=True, packet_loss_perc=10)
    return [enc.encode(pcm[i : i + FRAME_SAMPLES]) for i in range(0, len(pcm), FRAME_SAMPLES)]


@dataclass
class Result:
    mean_us: float
    median_us: float
    p99_us: float
    steps_us: dict[str, float]
    encodes_per_tick: float


def run(speakers: int, talking: int, ticks: int, loss: float, seed: int) -> Result:
    seconds = 5.0
    streams: dict[str, list[bytes]] = {}
    for i in range(speakers):
        user = f"s{i}"
        pcm = speech_like(seconds, i) if i < talking else room_noise(seconds, i)
        streams[user] = encode_stream(pcm)
    rng = random.Random(seed)
    jitter = {u: JitterBuffer() for u in streams}
    decoders = {u: OpusDecoder() for u in streams}
    mixer = Mixer()
    detector = SpeakingDetector()
    tracker = TalkerTracker()
    full_encoder = output_encoder()
    own_encoders: dict[str, OpusEncoder] = {}
    totals = dict.fromkeys(STEPS, 0)
    per_tick: list[float] = []
    encodes: list[int] = []
    # CPU time of this thread: other processes on a shared machine do not inflate it.
    perf = time.thread_time_ns
    for tick in range(ticks):
        t0 = perf()
        for user, packets in streams.items():
            if rng.random() >= loss:
                seq = tick & 0xFFFF
                jitter[user].push(seq, packets[tick % len(packets)])
        t1 = perf()
        outs = {u: jb.pop() for u, jb in jitter.items()}
        t2 = perf()
        frames = {}
        for user, out in outs.items():
            dec = decoders[user]
            if out.kind == "frame":
                assert out.payload is not None
                frames[user] = dec.decode(out.payload)
            elif out.kind == "fec":
                assert out.payload is not None
                frames[user] = dec.decode_fec(out.payload)
            elif out.kind == "plc":
                frames[user] = dec.conceal()
        t3 = perf()
        result = mixer.mix(frames, minus_keys=())
        t4 = perf()
        detector.update(result.levels)
        talkers = tracker.update(result.levels)
        minus = mixer.minus_for(talkers)
        t5 = perf()
        full_encoder.encode(result.full)
        for user, pcm in minus.items():
            enc = own_encoders.get(user)
            if enc is None:
                enc = own_encoders[user] = output_encoder()
            enc.encode(pcm)
        t6 = perf()
        if tick < 50:
            continue  # warm-up: prefetch, first allocations
        marks = (t0, t1, t2, t3, t4, t5, t6)
        for i, step in enumerate(STEPS):
            totals[step] += marks[i + 1] - marks[i]
        per_tick.append((t6 - t0) / 1000)
        encodes.append(1 + len(minus))
    n = len(per_tick)
    per_tick.sort()
    return Result(
        mean_us=statistics.fmean(per_tick),
        median_us=per_tick[n // 2],
        p99_us=per_tick[int(n * 0.99)],
        steps_us={s: totals[s] / n / 1000 for s in STEPS},
        encodes_per_tick=statistics.fmean(encodes),
    )


def codec_costs(frames: int = 500) -> list[tuple[str, float]]:
    """CPU µs per 20 ms frame of speech for a few encoder settings, and for decoding."""
    pcm = speech_like(frames * FRAME_SAMPLES / SAMPLE_RATE, 0)
    chunks = [pcm[i : i + FRAME_SAMPLES] for i in range(0, len(pcm), FRAME_SAMPLES)]
    rows = []
    # The last setting's packets (hybrid, with FEC) feed the decode timings below.
    for bitrate, complexity, celt in [(64000, 7, True), (64000, 5, True), (32000, 5, False),
                                      (64000, 5, False), (64000, 3, False), (32000, 9, False),
                                      (64000, 10, False)]:
        enc = (OpusEncoder(bitrate=bitrate, complexity=complexity, fec=False, signal="music")
               if celt else OpusEncoder(bitrate=bitrate, complexity=complexity))
        t0 = time.thread_time_ns()
        packets = [enc.encode(c) for c in chunks]
        mode = "CELT-only, no FEC" if celt else "hybrid, FEC"
        rows.append(
            (f"encode {bitrate // 1000} kb/s, complexity {complexity}, {mode}",
             (time.thread_time_ns() - t0) / len(chunks) / 1000)
        )
    for name, call in [("decode", "decode"), ("conceal (PLC)", "conceal"), ("decode_fec", "fec")]:
        dec = OpusDecoder()
        spent = 0
        for i, p in enumerate(packets[:-1]):
            # Every 4th packet is "lost": time only the call under test on it.
            if i % 4 != 3 and call != "decode":
                dec.decode(p)
                continue
            t0 = time.thread_time_ns()
            if call == "decode":
                dec.decode(p)
            elif call == "conceal":
                dec.conceal()
            else:
                dec.decode_fec(packets[i + 1])
            spent += time.thread_time_ns() - t0
        calls = len(packets) - 1 if call == "decode" else (len(packets) - 1) // 4
        rows.append((name, spent / calls / 1000))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ticks", type=int, default=1500)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    print(f"{version()}, numpy {np.__version__}, {args.ticks} ticks per case")
    print("case                              mean µs  median   p99  enc/tick  "
          "% of 20 ms  | push pop decode mix levels+minus encode (µs)")
    cases = [
        ("9 speakers, 2 talking", 9, 2, 0.0),
        ("9 speakers, 2 talking, 5% loss", 9, 2, 0.05),
        ("9 speakers, all talking", 9, 9, 0.0),
        ("2 speakers, 1 talking", 2, 1, 0.0),
    ]
    for name, speakers, talking, loss in cases:
        r = run(speakers, talking, args.ticks, loss, args.seed)
        print(
            f"{name:32s} {r.mean_us:8.0f} {r.median_us:7.0f} {r.p99_us:5.0f} "
            f"{r.encodes_per_tick:9.1f} {100 * r.mean_us / TICK_US:10.1f}  | "
            + " ".join(f"{r.steps_us[s]:.0f}" for s in STEPS)
        )
    print("\ncodec, CPU µs per 20 ms frame of speech:")
    for name, us in codec_costs():
        print(f"  {name:34s} {us:6.0f}")

if __name__ == "__main__":
    main()
