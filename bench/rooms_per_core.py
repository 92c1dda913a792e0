"""Rooms per core: add rooms of 9 publishers (2 talking) + 20 listeners until the server
process uses 70 % of one core.

    python -m bench.rooms_per_core [--step 2] [--max-rooms 20] [--seconds 8] [--target 0.7]

Each step starts one more peers process (bench/media_peers.py) with `--step` rooms; the
server (bench/media_server.py, the real stack) runs in its own process (`--pin`: server on
core 0, peers on core 1). Prints, after each step, the server's CPU share and its CPU per
room-tick (CPU seconds / room-ticks run), and the rooms that fit in the target share.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys

from audio.constants import FRAME_SECONDS
from bench.media_bench import cpus, measure, media_peers, media_server


async def run(step: int, max_rooms: int, seconds: float, target: float, talkers: int,
              silent: int, listeners: int, warmup: float, pin: bool) -> int:
    server_cpu, peers_cpu = cpus() if pin else (None, None)
    # rooms, CPU share, CPU per room-tick, share of ticks run, encodes per room-tick
    rows: list[tuple[int, float, float, float, float]] = []
    async with contextlib.AsyncExitStack() as stack:
        server = await stack.enter_async_context(media_server(cpu=server_cpu))
        rooms = 0
        while rooms < max_rooms:
            await stack.enter_async_context(media_peers(
                server.url, rooms=step, talkers=talkers, silent=silent, listeners=listeners,
                prefix=f"p{rooms}", cpu=peers_cpu))
            rooms += step
            await asyncio.sleep(warmup)
            window = await measure(server, seconds)
            ticks = window.get("ticks")  # room-ticks run in the window, all rooms together
            expected = rooms * 50 * window.seconds
            per_tick = window.cpu / max(1.0, ticks)
            sent = max(1.0, window.get("packets_sent"))
            rows.append((rooms, window.cpu_share, per_tick, ticks / expected,
                         window.get("encodes") / max(1.0, ticks)))
            print(f"rooms={rooms} server_cpu={window.cpu_share * 100:.1f}% "
                  f"cpu_per_room_tick={per_tick * 1e6:.0f}us "
                  f"ticks_run={ticks / expected * 100:.0f}% "
                  f"late={window.get('late_ticks') / max(1.0, ticks) * 100:.0f}% "
                  f"skipped={window.get('skipped_ticks'):.0f} "
                  f"overruns={window.get('overruns'):.0f} "
                  f"max_tick_ms={window.get('max_tick_seconds') * 1000:.1f} "
                  f"encodes/room-tick={window.get('encodes') / max(1.0, ticks):.2f} "
                  f"decoded={window.get('decoded'):.0f} "
                  f"silent_skipped={window.get('silent_skipped'):.0f} "
                  f"packets_sent={window.get('packets_sent'):.0f} "
                  f"encode_us/room-tick="
                  f"{window.get('encode_cpu_seconds') / max(1.0, ticks) * 1e6:.0f} "
                  f"send_us/packet={window.get('send_cpu_seconds') * 1e6 / sent:.1f}",
                  flush=True)
            if window.cpu_share >= target:
                break
    # Server CPU per room: what one room's tick costs, all included (receiving, decoding,
    # mixing, encoding, sending, RTCP, ICE), per tick actually run. Only steps where the server
    # kept up count: once it skips ticks it also sees fewer talkers and does less per tick
    # (a room with every talker heard encodes talkers + 1 times a tick).
    kept_up = [r for r in rows if r[3] >= 0.95 and r[4] >= 0.95 * (talkers + 1)]
    print()
    if not kept_up:
        print("the server never kept up: no figure")
        return 1
    rooms, share, per_tick, _, _ = kept_up[-1]
    print(f"largest step the server kept up with: {rooms} rooms, {share * 100:.0f} % of a core, "
          f"{per_tick * 1e6:.0f} µs CPU per room-tick = {per_tick * 50 * 100:.1f} % of a core "
          f"per room -> {target * FRAME_SECONDS / per_tick:.1f} rooms at {target * 100:.0f} %")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.rooms_per_core", description=__doc__)
    parser.add_argument("--step", type=int, default=2, help="rooms added per step")
    parser.add_argument("--max-rooms", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=8.0, help="measuring window")
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--target", type=float, default=0.7, help="CPU share of one core")
    parser.add_argument("--talkers", type=int, default=2)
    parser.add_argument("--silent", type=int, default=7)
    parser.add_argument("--listeners", type=int, default=20)
    parser.add_argument("--pin", action="store_true",
                        help="taskset: server on core 0, peers on core 1 (on a quiet machine)")
    args = parser.parse_args(argv)
    return asyncio.run(run(args.step, args.max_rooms, args.seconds, args.target, args.talkers,
                           args.silent, args.listeners, args.warmup, args.pin))


if __name__ == "__main__":
    sys.exit(main())
