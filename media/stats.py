"""A room session's counters, and the node-wide sums of them that /metrics shows."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


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


# The counters /metrics shows summed over a node's sessions (as `media_<name>`).
SUMMED_STATS = (
    "ticks", "late_ticks", "overruns", "skipped_ticks", "tick_errors", "encodes",
    "packets_sent", "tick_seconds_total", "decoded", "fec",
    "concealed", "silent_skipped", "bad_packets", "rtp_in", "rtp_dropped_unheard",
    "send_cpu_seconds", "encode_cpu_seconds",
)


def node_stats(all_stats: Iterable[SessionStats]) -> dict[str, float]:
    """`media_<counter>` summed over sessions, and the longest tick of any."""
    stats = list(all_stats)
    out = {f"media_{key}": float(sum(getattr(s, key) for s in stats)) for key in SUMMED_STATS}
    out["media_max_tick_seconds"] = max((s.max_tick_seconds for s in stats), default=0.0)
    return out
