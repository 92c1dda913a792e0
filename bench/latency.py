"""Server latency: from a speaker's packet arriving to the first outbound packet carrying it.

    python -m bench.latency [--rooms 1] [--seconds 10] [--listeners 20]

The server (the real stack, server.app.build) runs in this process with every room session
traced (LatencyTrace, the session's probe: a timestamp when the RTP payload reaches the
session, one when the tick that mixed it hands the packet to the listeners); the peers run in
another process (bench/media_peers.py: 2 talkers, 7 silent publishers, listeners per room).

The figure includes the jitter buffer's wait (depth 2) and the wait for the next 20 ms tick;
it does not include the network, the client's jitter buffer or its playout.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time

from bench.media_bench import media_peers
from media.session import RoomMixSession
from server.app import build
from server.settings import Settings


class LatencyTrace:
    """A session's probe (`media.session_wiring.Probe`): timestamps from a speaker's packet arriving
    to the first outbound packet carrying it."""

    def __init__(self, limit: int = 100_000) -> None:
        self._arrived: dict[int, tuple[bytes, float]] = {}
        self._pending: dict[int, list[float]] = {}
        self.samples: list[float] = []
        self.buffered: list[float] = []  # of which: arrival -> taken from the jitter buffer
        self._limit = limit
        self._calls = 0

    def arrived(self, payload: bytes) -> None:
        self._arrived[id(payload)] = (payload, time.perf_counter())

    def mixed(self, tick: int, payload: bytes) -> None:
        entry = self._arrived.pop(id(payload), None)
        if entry is not None and entry[0] is payload:
            self._pending.setdefault(tick, []).append(entry[1])
            if len(self.buffered) < self._limit:
                self.buffered.append(time.perf_counter() - entry[1])

    def discard(self, payload: bytes) -> None:
        self._arrived.pop(id(payload), None)

    def sent(self, tick: int) -> None:
        arrivals = self._pending.pop(tick, None)
        now = time.perf_counter()
        if arrivals and len(self.samples) < self._limit:
            self.samples.extend(now - t for t in arrivals)
        self._calls += 1
        if self._calls % 50 == 0:
            # Packets the jitter buffer dropped (late, skipped) never get mixed: forget them.
            for key in [k for k, (_, t) in self._arrived.items() if now - t > 2.0]:
                del self._arrived[key]
            for old in [t for t in self._pending if t < tick - 50]:
                del self._pending[old]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[k]


async def run(rooms: int, seconds: float, listeners: int, warmup: float) -> int:
    settings = Settings(host="127.0.0.1", port=0, media=True, node_id="bench-latency",
                        log_level="WARNING", rate=1e6, burst=1_000_000)
    app = await build(settings)
    engine = app.media
    assert engine is not None
    traces: list[LatencyTrace] = []
    sessions: list[RoomMixSession] = []

    def traced(room_id: str) -> RoomMixSession:
        session = RoomMixSession(room_id, on_levels=engine.on_levels)
        trace = session.probe = LatencyTrace()
        traces.append(trace)
        sessions.append(session)
        return session

    engine.session_factory = traced
    await app.start()
    try:
        async with media_peers(app.url, rooms=rooms, talkers=2, silent=7,
                               listeners=listeners) as peers:
            await asyncio.sleep(warmup)
            for trace in traces:
                trace.samples.clear()
                trace.buffered.clear()
            ticks0 = sum(s.stats.ticks for s in sessions)
            late0 = sum(s.stats.late_ticks for s in sessions)
            await asyncio.sleep(seconds)
            samples = [x for t in traces for x in t.samples]
            buffered = [x * 1000 for t in traces for x in t.buffered]
            ticks = sum(s.stats.ticks for s in sessions) - ticks0
            late = sum(s.stats.late_ticks for s in sessions) - late0
            stats = await peers.stats()
            buffers = [(u, i.jitter.stats, i.jitter.latency()) for s in sessions
                       for u, i in s.inputs.items() if i.jitter.stats.played]
    finally:
        await app.stop()
    for user, jstats, depth in buffers:
        print(f"  {user}: buffered {depth} ticks now; {jstats}")
    ms = [x * 1000 for x in samples]
    print(f"rooms={rooms} listeners/room={listeners} peers={stats['peers']} "
          f"samples={len(ms)} ticks={ticks} late_ticks={late}")
    print(f"arrival -> first outbound packet: p50 {percentile(ms, 50):.1f} ms, "
          f"p90 {percentile(ms, 90):.1f} ms, p99 {percentile(ms, 99):.1f} ms, "
          f"max {max(ms, default=float('nan')):.1f} ms")
    print(f"  of which arrival -> out of the jitter buffer: p50 {percentile(buffered, 50):.1f} ms,"
          f" p99 {percentile(buffered, 99):.1f} ms")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.latency", description=__doc__)
    parser.add_argument("--rooms", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--listeners", type=int, default=20)
    parser.add_argument("--warmup", type=float, default=3.0)
    args = parser.parse_args(argv)
    return asyncio.run(run(args.rooms, args.seconds, args.listeners, args.warmup))


if __name__ == "__main__":
    sys.exit(main())
