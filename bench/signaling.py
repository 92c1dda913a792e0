"""Signaling cost at scale: `python -m bench.signaling`.

Starts `run_server.py` (signaling only) pinned to CPU 0 when the machine has two or
more, pins this process (the clients) to the other CPUs, then:

1. opens `--clients` connections (hello) and reads the server's RSS growth per idle
   connection;
2. one client per room creates a room (chatroom, free seats), everyone else joins one
   of the `--rooms` rooms; RSS growth per member;
3. for `--duration` seconds drives every room open-loop at `--ops` requests a second,
   half chat messages, half seat changes (take_seat / leave_seat by random members),
   each of which the server broadcasts to the whole room;
4. prints the server's CPU time (user + system, from /proc) per event delivered to
   the clients, the request latency p50/p99 (client-measured round trip), and the
   client process's own CPU share (near 100 % means the clients, not the server,
   were the bottleneck and latencies include client queueing).

Goals: <= 15 µs server CPU per delivered event, <= 30 KiB per idle connection,
p99 < 20 ms. The whole run is bounded (about a minute with the defaults).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import sys
from typing import Any

from bench.signaling_run import Target, run_bench
from server.process import server_child

MAX_CLIENTS = 5000
MAX_DURATION = 120.0

GOAL_US_PER_EVENT = 15.0
GOAL_KIB_PER_IDLE = 30.0
GOAL_P99_MS = 20.0


def split_cpus() -> tuple[set[int] | None, set[int] | None]:
    """(server CPUs, client CPUs): the first allowed CPU for the server, the rest for us."""
    allowed = sorted(os.sched_getaffinity(0))
    if len(allowed) < 2:
        return None, None
    return {allowed[0]}, set(allowed[1:])


def print_report(r: dict[str, Any], cpus: tuple[set[int] | None, set[int] | None]) -> None:
    def verdict(ok: bool) -> str:
        return "ok" if ok else "MISSED"

    us = r["server_us_per_event"]
    print(f"signaling: {r['clients']} connections over {r['rooms']} rooms, "
          f"{r['duration_s']} s at {r['ops_per_room_per_s']:g} requests/s per room "
          f"(server CPUs {sorted(cpus[0]) if cpus[0] else 'shared'}, "
          f"client CPUs {sorted(cpus[1]) if cpus[1] else 'shared'})")
    print(f"  connect {r['clients']} clients: {r['connect_s']} s; machine load average "
          f"{r['load_average_1min']} on {r['cpus']} CPUs at the end (other work inflates latency)"
          f"; niceness {r['niceness']}")
    print(f"  requests {r['requests']}, errors {r['errors'] or 'none'}")
    print(f"  events delivered {r['events_delivered']} ({r['events_per_s']}/s): "
          + ", ".join(f"{k} {v}" for k, v in r["events_by_type"].items()))
    print(f"  server CPU {r['server_cpu_s']} s ({r['server_cpu_share']:.0%} of a core), "
          f"clients {r['client_cpu_share']:.0%} of a core; waiting for a CPU while runnable: "
          f"server {r['server_cpu_wait_share']:.0%}, clients {r['client_cpu_wait_share']:.0%}"
          " of the time")
    if us is not None:
        print(f"  server CPU per delivered event: {us} µs "
              f"(goal <= {GOAL_US_PER_EVENT:g}: {verdict(us <= GOAL_US_PER_EVENT)}); "
              f"of which in the kernel (stime) {r['server_system_us_per_event']} µs")
    print(f"  request latency p50 {r['p50_ms']} ms, p99 {r['p99_ms']} ms "
          f"(goal p99 < {GOAL_P99_MS:g}: {verdict(r['p99_ms'] < GOAL_P99_MS)})")
    for kind, row in r["latency_ms_by_type"].items():
        print(f"    {kind:<12} n={row['count']:<6} p50 {row['p50']} ms  p99 {row['p99']} ms")
    pr = r["probe_ms"]
    print(f"    probe (list_rooms, outside the rooms) n={pr['count']} p50 {pr['p50']} ms"
          f"  p99 {pr['p99']} ms")
    lag = r["client_loop_lag_ms"]
    print(f"    client event-loop lag p50 {lag['p50']} ms, p99 {lag['p99']} ms,"
          f" max {lag['max']} ms")
    kib = r["kib_per_idle_connection"]
    print(f"  server RSS {r['rss_before_mib']} MiB at start; per idle connection {kib} KiB "
          f"(goal <= {GOAL_KIB_PER_IDLE:g}: {verdict(kib <= GOAL_KIB_PER_IDLE)}); "
          f"per room member {r['kib_per_room_member']} KiB more")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.signaling", description=__doc__)
    parser.add_argument("--clients", type=int, default=2000)
    parser.add_argument("--rooms", type=int, default=20)
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of driving")
    parser.add_argument("--ops", type=float, default=6.0,
                        help="requests per second per room (half chat, half seat changes)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-pin", action="store_true",
                        help="leave CPU placement to the scheduler (on a machine busy with "
                             "other work, pinning can starve the server)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--nice", type=int, default=0,
                        help="scheduling niceness for the server and the clients (negative "
                             "needs privileges): on a machine busy with other work, -10 "
                             "keeps their stalls out of the latency figures")
    parser.add_argument("--attach", metavar="URL",
                        help="use a server already running at URL instead of starting one "
                             "(with --pid, for its CPU time and memory)")
    parser.add_argument("--pid", type=int, help="process id of the --attach server")
    parser.add_argument("--voice-client", action="store_true",
                        help="drive with client.VoiceClient (~10x the clients' CPU per event) "
                             "instead of the bench's lean client")
    parser.add_argument("server_flags", nargs="*",
                        help="extra run_server.py flags (after --), e.g. -- --redis URL")
    args = parser.parse_args(argv)
    if not 1 <= args.rooms <= args.clients <= MAX_CLIENTS:
        parser.error(f"need 1 <= rooms <= clients <= {MAX_CLIENTS}")
    if not 0 < args.duration <= MAX_DURATION:
        parser.error(f"--duration must be in (0, {MAX_DURATION:g}]")

    # Two sockets per connection on this machine (ours and the server's).
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, max(soft, args.clients * 2 + 256))
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    cpus = (None, None) if args.no_pin else split_cpus()
    if args.attach:
        if args.pid is None:
            parser.error("--attach needs --pid")
        cpus = (None, None)
        attached = Target(args.attach, args.pid)
        report = asyncio.run(run_bench(
            attached, clients=args.clients, rooms=args.rooms, duration=args.duration,
            ops=args.ops, seed=args.seed, voice_client=args.voice_client,
        ))
    else:
        with server_child("--no-media", *args.server_flags, cpus=cpus[0]) as server:
            if cpus[1] is not None:
                os.sched_setaffinity(0, cpus[1])
            if args.nice:
                for pid in (server.pid, os.getpid()):
                    try:
                        os.setpriority(os.PRIO_PROCESS, pid, args.nice)
                    except PermissionError:
                        print(f"--nice {args.nice}: not permitted, running at the default",
                              file=sys.stderr)
                        break
            report = asyncio.run(run_bench(
                Target(server.url, server.pid), clients=args.clients, rooms=args.rooms,
                duration=args.duration, ops=args.ops, seed=args.seed,
                voice_client=args.voice_client,
            ))
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print_report(report, cpus)
    return 0


if __name__ == "__main__":
    sys.exit(main())
