"""Fan-out cost: one room, one talker, L listeners; server CPU per listener.

    python -m bench.fanout [--listeners 0,50,100,200] [--seconds 10] \
        [--modes direct,track,per-listener]

Modes (bench/media_server.py):
- direct: one encode per tick, each listener's packet built and sent by DirectSender (default);
- track: one encode per tick, an av.Packet through each listener's aiortc RTCRtpSender;
- per-listener: an Opus encode per listener per tick (Janus AudioBridge's way), sent direct.

The server and the peers run in separate processes (`--pin`: on separate cores). Per
listener-packet = (server CPU per tick with L listeners - with none) / L, per tick run.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from bench.media_bench import cpus, measure, media_peers, media_server

MODES = {
    "direct": ("--send-mode", "direct", "--encode", "once"),
    "track": ("--send-mode", "track", "--encode", "once"),
    "per-listener": ("--send-mode", "direct", "--encode", "per-listener"),
}


async def run(listeners: list[int], seconds: float, modes: list[str], warmup: float,
              pin: bool) -> int:
    server_cpu, peers_cpu = cpus() if pin else (None, None)
    rows = []
    for mode in modes:
        async with media_server(*MODES[mode], cpu=server_cpu) as server:
            base: float | None = None  # server CPU per tick with no listener
            for count in listeners:
                async with media_peers(server.url, rooms=1, talkers=1, silent=0,
                                       listeners=count, prefix=f"{mode[:3]}{count}",
                                       cpu=peers_cpu) as peers:
                    await asyncio.sleep(warmup)
                    s0 = await peers.stats()
                    window = await measure(server, seconds)
                    s1 = await peers.stats()
                received = s1["received_by_listeners"] - s0["received_by_listeners"]
                ticks = max(1.0, window.get("ticks"))
                # Per tick actually run: a busy machine that runs fewer ticks does not skew it.
                per_tick = window.cpu / ticks
                if count == 0:
                    base = per_tick
                per_packet = (per_tick - base) / count if count and base is not None else None
                row = {
                    "mode": mode,
                    "listeners": count,
                    "server_cpu": window.cpu_share,
                    "us_per_tick": per_tick * 1e6,
                    "us_per_listener_packet": None if per_packet is None else per_packet * 1e6,
                    "us_per_listener_second": None if per_packet is None else per_packet * 50e6,
                    "encodes_per_tick": window.get("encodes") / ticks,
                    "ticks_run": ticks / (50 * window.seconds),
                    "late": window.get("late_ticks") / ticks,
                    "delivered": received / max(1.0, count * ticks),
                    # In-tick only: the fan-out loop's thread CPU per packet handed out
                    # (header, SRTP, sendto), without RTCP, ICE or receiving.
                    "us_send_per_packet": window.get("send_cpu_seconds")
                    / max(1.0, window.get("packets_sent")) * 1e6,
                    "us_encode_per_tick": window.get("encode_cpu_seconds") / ticks * 1e6,
                }
                rows.append(row)
                print(_line(row), flush=True)
    print()
    print("| mode | listeners | server CPU | CPU per tick | µs per listener-packet "
          "| of which in the send loop | encode µs/tick | encodes/tick | ticks run | delivered |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['mode']} | {r['listeners']} | {r['server_cpu'] * 100:.1f} % | "
              f"{r['us_per_tick']:.0f} µs | {_f(r['us_per_listener_packet'], 1)} | "
              f"{r['us_send_per_packet']:.1f} | {r['us_encode_per_tick']:.0f} | "
              f"{r['encodes_per_tick']:.2f} | "
              f"{r['ticks_run'] * 100:.0f} % | {r['delivered'] * 100:.0f} % |")
    return 0


def _f(value: float | None, digits: int) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _line(r: dict[str, object]) -> str:
    return " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in r.items())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.fanout", description=__doc__)
    parser.add_argument("--listeners", default="0,50,100,200",
                        help="comma-separated listener counts (include 0: the baseline)")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--modes", default="direct,track,per-listener")
    parser.add_argument("--pin", action="store_true",
                        help="taskset: server on core 0, peers on core 1 (on a quiet machine)")
    args = parser.parse_args(argv)
    listeners = [int(x) for x in args.listeners.split(",")]
    modes = args.modes.split(",")
    for mode in modes:
        if mode not in MODES:
            parser.error(f"unknown mode {mode}")
    return asyncio.run(run(listeners, args.seconds, modes, args.warmup, args.pin))


if __name__ == "__main__":
    sys.exit(main())
