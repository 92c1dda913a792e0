"""Call setup latency: `python -m bench.calls_setup`.

`call` -> `call_incoming` at the callee, measured in this process (one clock: the time the
`call` frame is written to the time the callee's `call_incoming` is read), while the calls
pile up: every call keeps ringing (ring timeout far beyond the run), so the last ones are
placed with ~1,000 calls ringing. Two setups:

1. one node (`run_server.py --no-media`, in-memory state), pinned to one CPU when the
   machine has two or more (the clients on the others);
2. two nodes on one Redis (a private redis-server): every caller on node 1, every callee on
   node 2, so each setup crosses nodes (the call is committed by node 1's Lua script, whose
   PUBLISH reaches node 2, which rings the callee).

Callers and callees are friends (mutual follows made first); calls are sent open-loop at
`--rate` a second. Goals: p99 < 20 ms on one node, < 40 ms across two.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import sys
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

from bench.lean_client import LeanClient
from bench.procstat import child_pids, children_cpu, runqueue_wait_seconds
from client.load.stats import percentile
from server.process import RedisServer, cluster_nodes, server_process

GOAL_ONE_NODE_P99_MS = 20.0
GOAL_TWO_NODES_P99_MS = 40.0
MAX_CALLS = 5000
# Far above what the bench sends per connection: the gateway's rate limit is not under test.
SERVER_FLAGS = ("--no-media", "--rate", "100000", "--burst", "100000",
                "--ring-timeout", "3600")


class Pair:
    """A caller and its callee; the callee's `call_incoming` is timed against the send."""

    def __init__(self, index: int) -> None:
        self.caller_user = f"caller{index}"
        self.callee_user = f"callee{index}"
        self.sent: float | None = None
        self.rang: float | None = None
        self.replied: float | None = None
        self.caller: LeanClient | None = None
        self.callee: LeanClient | None = None

    def on_callee_event(self, message: dict[str, Any]) -> None:
        if message.get("type") == "call_incoming" and self.rang is None:
            self.rang = time.perf_counter()


def _ignore(message: dict[str, Any]) -> None:
    pass


def _no_reply(kind: str, seconds: float, code: str | None) -> None:
    pass


async def open_pairs(count: int, caller_url: str, callee_url: str) -> list[Pair]:
    pairs = [Pair(i) for i in range(count)]
    gate = asyncio.Semaphore(100)

    async def open_one(pair: Pair) -> None:
        async with gate:
            pair.caller = await LeanClient.connect(caller_url, pair.caller_user,
                                                   pair.caller_user, _ignore, _no_reply)
            pair.callee = await LeanClient.connect(callee_url, pair.callee_user,
                                                   pair.callee_user, pair.on_callee_event,
                                                   _no_reply)
            await pair.caller.request("follow", user=pair.callee_user)
            await pair.callee.request("follow", user=pair.caller_user)

    await asyncio.gather(*(open_one(pair) for pair in pairs))
    return pairs


async def place_calls(pairs: Sequence[Pair], rate: float) -> dict[str, Any]:
    """Send every pair's `call` open-loop at `rate` a second; wait for every ring."""
    gc.collect()
    gc.freeze()
    gc.disable()
    errors: dict[str, int] = {}

    async def one(pair: Pair) -> None:
        assert pair.caller is not None
        pair.sent = time.perf_counter()
        reply = await pair.caller.request("call", user=pair.callee_user)
        pair.replied = time.perf_counter()
        assert reply["call"]["state"] == "ringing"

    tasks = []
    started = time.perf_counter()
    try:
        for i, pair in enumerate(pairs):
            delay = started + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(pair)))
        for result in await asyncio.gather(*tasks, return_exceptions=True):
            if isinstance(result, BaseException):
                errors[type(result).__name__] = errors.get(type(result).__name__, 0) + 1
        deadline = time.perf_counter() + 10.0
        while any(p.rang is None for p in pairs) and time.perf_counter() < deadline:
            await asyncio.sleep(0.01)
    finally:
        gc.enable()
        gc.unfreeze()
    rings = sorted((p.rang - p.sent) * 1000 for p in pairs
                   if p.rang is not None and p.sent is not None)
    replies = sorted((p.replied - p.sent) * 1000 for p in pairs
                     if p.replied is not None and p.sent is not None)
    elapsed = time.perf_counter() - started
    return {
        "calls": len(pairs),
        "rang": len(rings),
        "errors": errors,
        "rate_per_s": round(len(pairs) / elapsed, 1),
        "ring_p50_ms": round(percentile(rings, 50), 2),
        "ring_p99_ms": round(percentile(rings, 99), 2),
        "ring_max_ms": round(rings[-1], 2) if rings else None,
        "reply_p50_ms": round(percentile(replies, 50), 2),
        "reply_p99_ms": round(percentile(replies, 99), 2),
        "ringing_at_end": len(rings),
    }


async def close_pairs(pairs: Sequence[Pair]) -> None:
    for pair in pairs:
        for client in (pair.caller, pair.callee):
            if client is not None:
                await client.close()


def split_cpus() -> tuple[set[int] | None, set[int] | None]:
    allowed = sorted(os.sched_getaffinity(0))
    if len(allowed) < 2:
        return None, None
    return {allowed[0]}, set(allowed[1:])


@contextlib.asynccontextmanager
async def one_node() -> AsyncIterator[tuple[str, str]]:
    server_cpus, client_cpus = split_cpus()
    allowed = os.sched_getaffinity(0)
    async with server_process(*SERVER_FLAGS, cpus=server_cpus) as server:
        if client_cpus:
            os.sched_setaffinity(0, client_cpus)
        try:
            yield server.url, server.url
        finally:
            os.sched_setaffinity(0, allowed)


@contextlib.asynccontextmanager
async def two_nodes() -> AsyncIterator[tuple[str, str]]:
    redis_server = RedisServer()
    redis_server.start()
    try:
        async with cluster_nodes(redis_server.url, ["calls1", "calls2"], *SERVER_FLAGS) \
                as nodes:
            yield nodes[0].url, nodes[1].url
    finally:
        redis_server.stop()


async def run_setup(name: str, count: int, rate: float) -> dict[str, Any]:
    setup = one_node() if name == "one node" else two_nodes()
    async with setup as (caller_url, callee_url):
        pairs = await open_pairs(count, caller_url, callee_url)
        try:
            before = children_cpu(os.getpid(), group="python", others="redis")
            waited = node_waits()
            started = time.perf_counter()
            result = await place_calls(pairs, rate)
            elapsed = time.perf_counter() - started
            waited = {pid: node_waits().get(pid, w) - w for pid, w in waited.items()}
            after = children_cpu(os.getpid(), group="python", others="redis")
        finally:
            await close_pairs(pairs)
    result["setup"] = name
    result["nodes_cpu_us_per_call"] = round(
        (after["python"] - before["python"]) / count * 1e6, 1)
    result["redis_cpu_us_per_call"] = round((after["redis"] - before["redis"]) / count * 1e6, 1)
    # Runnable but not running: time a node lost to other processes on its CPU (a busy
    # machine shows here, and as latency no code of ours causes).
    result["nodes_cpu_wait_share"] = round(max(waited.values(), default=0.0) / elapsed, 3)
    result["load_average_1min"] = round(os.getloadavg()[0], 2)
    return result


def node_waits() -> dict[int, float]:
    """Each server child's time runnable but waiting for a CPU, so far (schedstat)."""
    return {pid: runqueue_wait_seconds(pid) for pid in child_pids(os.getpid())}


def print_report(result: dict[str, Any], goal_ms: float) -> None:
    verdict = "ok" if result["ring_p99_ms"] < goal_ms else "MISSED"
    print(f"{result['setup']}: {result['calls']} calls at {result['rate_per_s']}/s, "
          f"{result['rang']} rang, errors {result['errors'] or 'none'}")
    print(f"  call -> call_incoming: p50 {result['ring_p50_ms']} ms, p99 "
          f"{result['ring_p99_ms']} ms, max {result['ring_max_ms']} ms "
          f"(goal p99 < {goal_ms:g}: {verdict}); {result['ringing_at_end']} ringing at the end")
    print(f"  call reply to the caller: p50 {result['reply_p50_ms']} ms, p99 "
          f"{result['reply_p99_ms']} ms")
    print(f"  CPU per call set up: server node(s) {result['nodes_cpu_us_per_call']} µs, "
          f"Redis {result['redis_cpu_us_per_call']} µs (ringing included: both ends' work)")
    print(f"  the busiest server process (a node, Redis) waited for a CPU while runnable "
          f"{result['nodes_cpu_wait_share']:.0%} of the time; machine load average "
          f"{result['load_average_1min']} on {os.cpu_count()} CPUs")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.calls_setup",
                                     description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--calls", type=int, default=1000,
                        help="calls placed (each keeps ringing; default 1000)")
    parser.add_argument("--rate", type=float, default=250.0,
                        help="calls sent a second, open loop (default 250)")
    parser.add_argument("--setups", default="one,two",
                        help="which: one (one node), two (two nodes on Redis); default both")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON too")
    args = parser.parse_args(argv)
    if not 1 <= args.calls <= MAX_CALLS:
        parser.error(f"--calls must be 1 to {MAX_CALLS}")
    if not args.rate > 0:
        parser.error("--rate must be > 0")
    chosen = [s.strip() for s in args.setups.split(",") if s.strip()]
    if not chosen or any(s not in ("one", "two") for s in chosen):
        parser.error("--setups: one, two or both")
    results = []
    for which in chosen:
        name, goal = (("one node", GOAL_ONE_NODE_P99_MS) if which == "one"
                      else ("two nodes on Redis", GOAL_TWO_NODES_P99_MS))
        result = asyncio.run(run_setup(name, args.calls, args.rate))
        print_report(result, goal)
        results.append(result)
    if args.json:
        print(json.dumps(results, indent=2))
    return 0 if all(r["rang"] == r["calls"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
