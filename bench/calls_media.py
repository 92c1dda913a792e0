"""Call media cost: N concurrent audio calls (2N aiortc peers), server CPU per relayed packet.

    python -m bench.calls_media [--calls 0,25,50,100] [--seconds 10] [--pin] \
        [--modes direct,track,decoded]

Modes (bench/calls_media_server.py):
- direct: each party's Opus forwarded to the other as it comes, sent by a DirectSender (the
  production path);
- track: forwarded, but sent through aiortc's RTCRtpSender fed ``av.Packet``s (PacketTrack);
- decoded: every direction on the decoded path (jitter buffer, decode, a silent mix-in,
  encode), as when an effect or a sound is on.

The server, the peers (bench/calls_media_peers.py) and this driver are separate processes
(`--pin`: server on core 0, peers on core 1). Per relayed packet = (server CPU over the window
- the same window's CPU with no call) / packets the server sent to parties in it; split into
the connections' upkeep (the same calls connected but silent: RTCP, ICE keep-alives) and the
packets' own path (receive, unprotect, parse, protect, send). Compare with bench/fanout.py's
figure per listener-packet of a room.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
from collections.abc import AsyncIterator
from typing import Any

from bench.media_bench import PeerProc, cpu_set, cpus, peer_process
from bench.procstat import cpu_seconds, system_seconds
from server.process import http_get, server_process

SERVER = ("-m", "bench.calls_media_server")
MIN_DELIVERED = 0.95
MODES = {"direct": ("--send-mode", "direct"), "track": ("--send-mode", "track"),
         "decoded": ("--send-mode", "direct")}


@contextlib.asynccontextmanager
async def call_peers(url: str, calls: int, prefix: str,
                     cpu: str | None) -> AsyncIterator[PeerProc]:
    async with peer_process(
        "-m", "bench.calls_media_peers", "--url", url, "--calls", str(calls),
        "--prefix", prefix, cpu=cpu, ready_timeout=600, stop_timeout=30,
    ) as peers:
        yield peers


async def command(peers: PeerProc, line: str) -> None:
    """Send the peers a command; they answer with a stats line."""
    assert peers.proc.stdin is not None and peers.proc.stdout is not None
    peers.proc.stdin.write(line.encode() + b"\n")
    await peers.proc.stdin.drain()
    while not (await asyncio.wait_for(peers.proc.stdout.readline(), 30)).startswith(b"stats "):
        pass


async def stats(host: str, port: int) -> dict[str, float]:
    _, _, body = await http_get(host, port, "/stats")
    result: dict[str, float] = json.loads(body)
    return result


async def mix_everything(url: str) -> None:
    from websockets.asyncio.client import connect

    async with connect(url) as ws:
        await ws.send(json.dumps({"op": "mix"}))
        await ws.recv()


async def run(counts: list[int], seconds: float, warmup: float, modes: list[str],
              pin: bool, profile: str | None = None) -> list[dict[str, Any]]:
    server_cpu, peers_cpu = cpus() if pin else (None, None)
    rows: list[dict[str, Any]] = []
    for mode in modes:
        flags = (*MODES[mode], *(("--profile", f"{profile}.{mode}") if profile else ()))
        async with server_process(*flags, program=SERVER, cpus=cpu_set(server_cpu),
                                  timeout=60) as server:
            idle_rate: float | None = None  # server CPU seconds per second with no call
            for count in counts:
                row: dict[str, Any] = {"mode": mode, "calls": count}
                if count == 0:
                    c0 = cpu_seconds(server.pid)
                    await asyncio.sleep(seconds)
                    idle_rate = (cpu_seconds(server.pid) - c0) / seconds
                    row["server_cpu"] = idle_rate
                    rows.append(row)
                    print(_line(row), flush=True)
                    continue
                async with call_peers(server.url, count, f"{mode[:2]}{count}x",
                                      peers_cpu) as peers:
                    if mode == "decoded":
                        await mix_everything(server.url)
                    await asyncio.sleep(warmup)
                    s0 = await stats(server.host, server.port)
                    loop = asyncio.get_running_loop()
                    c0, k0, t0 = cpu_seconds(server.pid), system_seconds(server.pid), loop.time()
                    await asyncio.sleep(seconds)
                    c1, k1, t1 = cpu_seconds(server.pid), system_seconds(server.pid), loop.time()
                    p1, s1 = await peers.stats(), await stats(server.host, server.port)
                    quiet_rate: float | None = None
                    if mode != "decoded":  # (a decoded path encodes on, silent or not)
                        # The same calls, connected but silent: RTCP and ICE keep-alives.
                        await command(peers, "pause")
                        await asyncio.sleep(1.0)
                        q0 = cpu_seconds(server.pid)
                        await asyncio.sleep(seconds)
                        quiet_rate = (cpu_seconds(server.pid) - q0) / seconds
                window = t1 - t0
                cpu = c1 - c0 - (idle_rate or 0.0) * window
                sent = _delta(s0, s1, "media_call_audio_relayed") + _delta(
                    s0, s1, "media_call_audio_encoded")
                idle = (None if quiet_rate is None
                        else (quiet_rate - (idle_rate or 0.0)) * window)
                row.update({
                    "server_cpu": (c1 - c0) / window,
                    "packets_per_s": sent / window,
                    "us_per_packet": cpu / max(1.0, sent) * 1e6,
                    # Of which the connections' upkeep, and the packets' own path.
                    "us_upkeep": None if idle is None else idle / max(1.0, sent) * 1e6,
                    "us_path": None if idle is None else (cpu - idle) / max(1.0, sent) * 1e6,
                    "us_kernel": (k1 - k0) / max(1.0, sent) * 1e6,  # system calls, all told
                    # Since the start (a window's ends cut packets in flight).
                    "delivered": p1["received"] / max(1, p1["sent"]),
                    "calls_per_core": (count / (cpu / window)) if cpu > 0 else None,
                })
                rows.append(row)
                print(_line(row), flush=True)
    return rows


def _delta(s0: dict[str, float], s1: dict[str, float], key: str) -> float:
    return s1.get(key, 0.0) - s0.get(key, 0.0)


def _f(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}"


def _line(r: dict[str, Any]) -> str:
    return " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in r.items())


def table(rows: list[dict[str, Any]]) -> str:
    out = ["| mode | calls | server CPU | relayed packets/s | µs per relayed packet "
           "| of which upkeep | of which the packet's path | calls per core | delivered |",
           "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if r["calls"] == 0:
            out.append(f"| {r['mode']} | 0 | {r['server_cpu'] * 100:.1f} % |"
                       + " — |" * 6)
            continue
        per_core = "—" if r["calls_per_core"] is None else f"{r['calls_per_core']:.0f}"
        out.append(f"| {r['mode']} | {r['calls']} | {r['server_cpu'] * 100:.1f} % | "
                   f"{r['packets_per_s']:.0f} | {r['us_per_packet']:.1f} | "
                   f"{_f(r['us_upkeep'])} | {_f(r['us_path'])} | {per_core} | "
                   f"{r['delivered'] * 100:.0f} % |")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.calls_media", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", default="0,25,50,100",
                        help="comma-separated call counts (include 0: the idle baseline)")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--modes", default="direct,track,decoded")
    parser.add_argument("--pin", action="store_true",
                        help="taskset: server on core 0, peers on core 1 (on a quiet machine)")
    parser.add_argument("--profile", metavar="PREFIX",
                        help="cProfile the server: stats in PREFIX.MODE (pstats format)")
    args = parser.parse_args(argv)
    counts = [int(x) for x in args.calls.split(",")]
    modes = args.modes.split(",")
    for mode in modes:
        if mode not in MODES:
            parser.error(f"unknown mode {mode}")
    rows = asyncio.run(run(counts, args.seconds, args.warmup, modes, args.pin, args.profile))
    print()
    print(table(rows))
    short = [r for r in rows if r["calls"] and r["delivered"] < MIN_DELIVERED]
    if short:
        # The parties' clock or the server's decoded paths could not keep up (a busy
        # machine): fewer packets, so each carries more of the connections' fixed upkeep.
        print(f"\nwarning: under {MIN_DELIVERED:.0%} delivered in "
              + ", ".join(f"{r['mode']} {r['calls']}" for r in short)
              + ": the peers or the server fell behind; those rows overstate the cost per "
              "packet")
    return 0


if __name__ == "__main__":
    sys.exit(main())
