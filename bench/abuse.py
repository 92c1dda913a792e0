"""`python -m bench.abuse`: the floods of issue 12 against a server this bench starts on
loopback, each bounded in clients and time, while a probe client asks `list_rooms` every
60 ms. Per flood it prints what the probe saw (request latency p50/p99), the server's CPU,
the media clock's ticks, and what the flood got (docs/security.md says which bound answers
which flood; docs/benchmarks.md keeps the figures).

    python -m bench.abuse                       # every flood, defaults (one node, memory)
    python -m bench.abuse --only offers,junk --seconds 8
    python -m bench.abuse --fresh               # a new server for each flood
    python -m bench.abuse --redis               # the server on a private redis-server,
                                                # with the Redis stall among the floods
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import time
from collections.abc import AsyncIterator
from typing import Any

from bench.abuse_floods import FLOODS
from bench.abuse_kit import Ctx, lean, scrape
from bench.procstat import cpu_seconds, rss_bytes
from client.connection import ClientError
from server.process import RedisServer, server_process

# Below the default request rate (20 a second): the probe itself is never limited.
PROBE_INTERVAL = 0.06
# Floods that need longer than the rest to show their bound at work (seconds at least).
LONGER = {"idle_slots": 18.0, "slow_readers": 45.0, "redis_stall": 12.0}


class Probe:
    """One well-behaved client: `list_rooms` every 60 ms, each reply's latency kept."""

    def __init__(self) -> None:
        self.samples: list[float] = []
        self.errors = 0
        self._task: asyncio.Task[None] | None = None

    async def start(self, ctx: Ctx) -> None:
        client = await lean(ctx, "probe")
        self._task = asyncio.create_task(self._run(client))

    async def _run(self, client: Any) -> None:
        while True:
            started = time.perf_counter()
            try:
                await client.list_rooms(5)
            except ClientError:
                self.errors += 1
            self.samples.append(time.perf_counter() - started)
            await asyncio.sleep(PROBE_INTERVAL)

    def take(self) -> tuple[list[float], int]:
        samples, errors = self.samples, self.errors
        self.samples, self.errors = [], 0
        return samples, errors

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@contextlib.asynccontextmanager
async def target(redis: bool) -> AsyncIterator[tuple[Ctx, int]]:
    """The server under test (a `run_server.py` child), and its pid."""
    flags: list[str] = []
    store: RedisServer | None = None
    if redis:
        store = RedisServer()
        store.start()
        flags += ["--redis", store.url]
    try:
        async with server_process(*flags) as server:
            ctx = Ctx(server.url, server.host, server.port)
            if store is not None:
                import redis as redis_client

                info = redis_client.Redis.from_url(store.url).info("server")
                ctx.redis_pid = int(info["process_id"])
            yield ctx, server.pid
    finally:
        if store is not None:
            store.stop()


async def measure(ctx: Ctx, pid: int, probe: Probe, name: str,
                  seconds: float) -> dict[str, Any]:
    """One flood, and what the probe and the server's figures say about it."""
    before = await scrape(ctx)
    cpu0, t0 = cpu_seconds(pid), time.monotonic()
    probe.take()
    got = await FLOODS[name](ctx, max(seconds, LONGER.get(name, 0.0)))
    samples, errors = probe.take()
    took = time.monotonic() - t0
    after = await scrape(ctx)
    ticks = after.get("voiceroom_media_ticks_total", 0.0) - before.get(
        "voiceroom_media_ticks_total", 0.0)
    return {
        "flood": name, "seconds": round(took, 1), "probe_replies": len(samples),
        "p50_ms": round(percentile(samples, 0.5) * 1e3, 1),
        "p99_ms": round(percentile(samples, 0.99) * 1e3, 1), "probe_errors": errors,
        "server_cpu": round((cpu_seconds(pid) - cpu0) / took, 3),
        "media_ticks_per_s": round(ticks / took, 1), "rss_mb": round(rss_bytes(pid) / 1e6),
        "got": got,
    }


async def run(names: list[str], seconds: float, redis: bool, as_json: bool,
              fresh: bool) -> None:
    rows = []
    if not as_json:
        print(f"{'flood':<13} {'p50 ms':>8} {'p99 ms':>8} {'errors':>6} {'server CPU':>10} "
              f"{'ticks/s':>8} {'RSS MB':>7}  what the flood got", flush=True)
    # One server for all (what a flood leaves behind meets the next), or one per flood.
    batches = [[name] for name in names] if fresh else [names]
    for batch in batches:
        async with target(redis) as (ctx, pid):
            probe = Probe()
            await probe.start(ctx)
            for name in batch:
                row = await measure(ctx, pid, probe, name, seconds)
                rows.append(row)
                if not as_json:
                    print(f"{name:<13} {row['p50_ms']:8.1f} {row['p99_ms']:8.1f} "
                          f"{row['probe_errors']:6d} {row['server_cpu']:9.0%} "
                          f"{row['media_ticks_per_s']:8.0f} {row['rss_mb']:7d}  {row['got']}",
                          flush=True)
                await asyncio.sleep(1.0)  # what a flood left behind settles before the next
            await probe.stop()
    if as_json:
        print(json.dumps({"floods": rows}))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.abuse", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5.0, help="each flood (default 5)")
    parser.add_argument("--only", default="", help=f"comma-separated: {', '.join(FLOODS)}")
    parser.add_argument("--redis", action="store_true",
                        help="run the server on a private redis-server (adds the stall)")
    parser.add_argument("--json", action="store_true", help="one JSON object instead of a table")
    parser.add_argument("--fresh", action="store_true",
                        help="a new server for each flood (nothing left over from the last)")
    args = parser.parse_args(argv)
    names = [n for n in args.only.split(",") if n] or [
        n for n in FLOODS if args.redis or n != "redis_stall"]
    unknown = [n for n in names if n not in FLOODS]
    if unknown:
        parser.error(f"unknown flood: {', '.join(unknown)}")
    if not 0 < args.seconds <= 120:
        parser.error("--seconds: 0 to 120")
    asyncio.run(run(names, args.seconds, args.redis, args.json, args.fresh))
    return 0


if __name__ == "__main__":
    sys.exit(main())
