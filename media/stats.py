"""A room session's counters, and the node-wide sums of them that /metrics shows."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable
from dataclasses import dataclass, field

# Bucket upper bounds, in seconds. A tick has 20 ms; a busy one on a slow machine a few ms.
TICK_BUCKETS = (0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05)
# The fan-out to every listener of a room: tens of microseconds to a few milliseconds.
SEND_BUCKETS = (0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01)


@dataclass
class Histogram:
    """Counts of observations per bucket (`counts[i]`: values <= `bounds[i]` and above the
    bound before; the last entry: above every bound) and their sum. Two list operations per
    observation: cheap enough for every tick of every room, with no lock, no library."""

    bounds: tuple[float, ...]
    counts: list[int] = field(default_factory=list)
    total: float = 0.0

    def __post_init__(self) -> None:
        if not self.counts:
            self.counts = [0] * (len(self.bounds) + 1)

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1
        self.total += value

    def add(self, other: Histogram) -> None:
        if other.bounds != self.bounds:
            raise ValueError("histograms with different buckets")
        for i, count in enumerate(other.counts):
            self.counts[i] += count
        self.total += other.total

    @property
    def count(self) -> int:
        return sum(self.counts)


@dataclass
class SessionStats:
    ticks: int = 0
    late_ticks: int = 0  # started more than LATE_SECONDS after the deadline
    overruns: int = 0  # took longer than a tick
    skipped_ticks: int = 0  # dropped to catch up after falling far behind
    tick_errors: int = 0
    encodes: int = 0
    packets_sent: int = 0  # packets handed to listeners' outputs
    max_tick_seconds: float = 0.0
    tick_seconds_total: float = 0.0  # wall time in ticks
    # Thread CPU time (user + system) in the tick's encodes and in its fan-out loop.
    encode_cpu_seconds: float = 0.0
    send_cpu_seconds: float = 0.0
    decoded: int = 0
    silent_skipped: int = 0  # packets marked silent by their RFC 6464 level: not decoded
    fec: int = 0
    concealed: int = 0
    silent: int = 0
    bad_packets: int = 0
    rtp_in: int = 0
    rtp_dropped_unheard: int = 0  # from members who are not speakers: never decoded
    talkers_last_tick: int = 0
    encodes_last_tick: int = 0
    # Wall time of each tick, and thread CPU time of each tick's fan-out (the send loop).
    tick_seconds: Histogram = field(default_factory=lambda: Histogram(TICK_BUCKETS))
    send_seconds: Histogram = field(default_factory=lambda: Histogram(SEND_BUCKETS))


# The counters /metrics shows summed over a node's sessions (as `media_<name>`).
SUMMED_STATS = (
    "ticks", "late_ticks", "overruns", "skipped_ticks", "tick_errors", "encodes",
    "packets_sent", "tick_seconds_total", "decoded", "fec",
    "concealed", "silent_skipped", "bad_packets", "rtp_in", "rtp_dropped_unheard",
    "send_cpu_seconds", "encode_cpu_seconds",
)
# The histograms /metrics shows summed over a node's sessions (as `media_<name>`).
HISTOGRAMS = ("tick_seconds", "send_seconds")


def retire(into: SessionStats, stats: SessionStats) -> None:
    """Adds a stopping session's counters to `into`, so the node's sums never go down when
    a room closes (a Prometheus counter that drops reads as a restart)."""
    for key in SUMMED_STATS:
        setattr(into, key, getattr(into, key) + getattr(stats, key))
    for key in HISTOGRAMS:
        getattr(into, key).add(getattr(stats, key))


def node_stats(all_stats: Iterable[SessionStats]) -> dict[str, float]:
    """`media_<counter>` summed over sessions, and the longest tick of any."""
    stats = list(all_stats)
    out = {f"media_{key}": float(sum(getattr(s, key) for s in stats)) for key in SUMMED_STATS}
    out["media_max_tick_seconds"] = max((s.max_tick_seconds for s in stats), default=0.0)
    return out


def node_histograms(all_stats: Iterable[SessionStats]) -> dict[str, Histogram]:
    """`media_<histogram>` summed over sessions."""
    stats = list(all_stats)
    out: dict[str, Histogram] = {}
    for key in HISTOGRAMS:
        total = Histogram(getattr(SessionStats(), key).bounds)
        for s in stats:
            total.add(getattr(s, key))
        out[f"media_{key}"] = total
    return out
