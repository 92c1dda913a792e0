"""One room's audience across three nodes: what the owner, an edge and an HTTP listener cost,
and what an edge adds to a listener's latency.

    python -m bench.audience [--listeners 100] [--http 1000] [--seconds 8]

Three `run_server.py` nodes (a, b, c) on a private Redis. Node a owns the room: its host and
seven seated speakers, all eight talking (a tone each), publish from one peers process
(bench/media_peers.py: light WebRTC clients that count what they get, no decoding) that also
holds the owner's WebRTC listeners; two more peers processes hold the WebRTC listeners of b and
c, which are edge listeners (answered by b and c, fed one relayed copy of the mix:
server/edge.py). HTTP listeners read `GET /rooms/ID/listen.ogg` from c.

Three windows, each `--seconds` long, CPU read from /proc for each node process:
1. the speakers only (b and c idle: their baseline);
2. plus `--listeners` WebRTC listeners on each node: the owner's CPU, and an edge's CPU per
   listener-packet = (b's CPU now - in window 1) / (listeners x packets);
3. plus `--http` HTTP listeners on c: CPU per HTTP listener = (c's CPU now - in window 2) / N.
Latency: the same mix packet reaches every listener with the same bytes; the arrival time of
each payload at b's first listener minus at a's first listener (one clock: the peers run on
this machine) is what the edge adds.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import sys
from collections.abc import AsyncIterator
from typing import Any

from bench.http_listeners import open_listener
from bench.media_bench import PeerProc, media_peers
from bench.procstat import cpu_seconds
from server.process import RedisServer, ServerProcess, cluster_nodes, http_get

SPEAKERS = 8
NODE_FLAGS = ("--rate", "100000", "--burst", "100000", "--offers-in-flight", "100",
              "--grace", "60")
PACKETS_PER_SECOND = 50


@contextlib.asynccontextmanager
async def three_nodes() -> AsyncIterator[list[ServerProcess]]:
    redis = RedisServer()
    redis.start()
    try:
        async with cluster_nodes(redis.url, ["a", "b", "c"], *NODE_FLAGS) as nodes:
            yield nodes
    finally:
        redis.stop()


async def window(nodes: list[ServerProcess], seconds: float) -> list[float]:
    """CPU seconds per second of each node over the next `seconds`."""
    start = [cpu_seconds(node.pid) for node in nodes]
    t0 = asyncio.get_running_loop().time()
    await asyncio.sleep(seconds)
    elapsed = asyncio.get_running_loop().time() - t0
    return [(cpu_seconds(node.pid) - s) / elapsed for node, s in zip(nodes, start, strict=True)]


async def counters(node: ServerProcess) -> dict[str, float]:
    """The node's /metrics, name -> value (unlabelled lines)."""
    _, _, body = await http_get(node.host, node.port, "/metrics")
    out: dict[str, float] = {}
    for line in body.decode().splitlines():
        name, _, value = line.partition(" ")
        if not line.startswith("#") and "{" not in name:
            with contextlib.suppress(ValueError):
                out[name] = float(value)
    return out


def send_loop_us(before: dict[str, float], after: dict[str, float], prefix: str) -> float:
    """Send-loop CPU per packet between two scrapes (`prefix`: media or media_edge)."""
    cpu = after.get(f"voiceroom_{prefix}_send_cpu_seconds_total", 0.0) \
        - before.get(f"voiceroom_{prefix}_send_cpu_seconds_total", 0.0)
    packets = after.get(f"voiceroom_{prefix}_packets_sent_total", 0.0) \
        - before.get(f"voiceroom_{prefix}_packets_sent_total", 0.0)
    return cpu / packets * 1e6 if packets > 0 else float("nan")


async def received(peers: list[PeerProc]) -> list[int]:
    return [int((await p.stats())["received_by_listeners"]) for p in peers]


async def edge_latency(owner: PeerProc, edge: PeerProc) -> list[float]:
    """Seconds by which each payload reached the edge's first listener after the owner's."""
    a = await owner.ask("trace")
    b = await edge.ask("trace")
    return [b[key] - a[key] for key in a.keys() & b.keys()
            if a[key] is not None and b[key] is not None]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def run(listeners: int, http: int, seconds: float, warmup: float) -> dict[str, Any]:
    out: dict[str, Any] = {"listeners_per_node": listeners, "http_listeners": http}
    async with three_nodes() as nodes, contextlib.AsyncExitStack() as stack:
        a, b, c = nodes
        speakers = await stack.enter_async_context(media_peers(
            a.url, rooms=1, talkers=SPEAKERS, silent=0, listeners=0, prefix="own"))
        room = str(speakers.ready["rooms"][0])
        await asyncio.sleep(warmup)
        idle = await window(nodes, seconds)
        out["window1_cpu"] = idle

        # Window 2: WebRTC listeners on every node (a: the owner's own; b, c: edges).
        async def listeners_on(node: ServerProcess, name: str) -> PeerProc:
            try:
                return await stack.enter_async_context(media_peers(
                    node.url, rooms=1, talkers=0, silent=0, listeners=listeners,
                    prefix=f"l{name}", extra=("--join", room, "--trace")))
            except RuntimeError as exc:
                raise RuntimeError(f"listeners on node {name}: {exc}") from exc

        owner_peers = await listeners_on(a, "a")
        edge_peers = [await listeners_on(b, "b"), await listeners_on(c, "c")]
        listening = [owner_peers, *edge_peers]
        await asyncio.sleep(warmup)
        await edge_latency(owner_peers, edge_peers[0])  # start the trace afresh
        got0 = await received(listening)
        scraped0 = [await counters(node) for node in (a, b)]
        busy = await window(nodes, seconds)
        scraped1 = [await counters(node) for node in (a, b)]
        got1 = await received(listening)
        out["owner_send_loop_us"] = send_loop_us(scraped0[0], scraped1[0], "media")
        out["edge_send_loop_us"] = send_loop_us(scraped0[1], scraped1[1], "media_edge")
        latency = await edge_latency(owner_peers, edge_peers[0])
        out["window2_cpu"] = busy
        out["delivered"] = [(g1 - g0) / (listeners * PACKETS_PER_SECOND * seconds)
                            for g0, g1 in zip(got0, got1, strict=True)]
        out["owner_cpu"] = busy[0]
        packets = listeners * PACKETS_PER_SECOND
        out["edge_us_per_listener_packet"] = [(busy[i] - idle[i]) / packets * 1e6
                                              for i in (1, 2)]
        out["owner_us_per_listener_packet"] = (busy[0] - idle[0]) / packets * 1e6
        if latency:
            out["edge_added_ms"] = {
                "median": statistics.median(latency) * 1e3,
                "p95": percentile(latency, 0.95) * 1e3,
                "packets": len(latency),
            }

        # Window 3: HTTP listeners on c.
        if http:
            path = f"/rooms/{room}/listen.ogg"
            opened = []
            for start in range(0, http, 100):
                opened += await asyncio.gather(*(open_listener(c.host, c.port, path)
                                                 for _ in range(start, min(http, start + 100))))
            await asyncio.sleep(warmup)
            b0 = [r.bytes for _, r in opened]
            streaming = await window(nodes, seconds)
            got = [r.bytes - b0_ for (_, r), b0_ in zip(opened, b0, strict=True)]
            out["window3_cpu"] = streaming
            out["http_us_per_listener_second"] = (streaming[2] - busy[2]) / http * 1e6
            out["http_delivered"] = sum(1 for g in got if g > 0.8 * max(got)) / http
            out["http_kbytes_per_listener_second"] = statistics.median(got) / seconds / 1e3
            for transport, _ in opened:
                transport.close()
    return out


def report(r: dict[str, Any]) -> None:
    def cpus(key: str) -> str:
        return " / ".join(f"{x * 100:.1f} %" for x in r[key])

    print()
    print(f"One room, {SPEAKERS} speakers talking on a; {r['listeners_per_node']} WebRTC "
          f"listeners on each of a, b, c; {r['http_listeners']} HTTP listeners on c.")
    print()
    print("| window | a (owner) | b (edge) | c (edge, HTTP) |")
    print("|---|---|---|---|")
    print(f"| speakers only | {' | '.join(f'{x * 100:.1f} %' for x in r['window1_cpu'])} |")
    print(f"| + WebRTC listeners | {' | '.join(f'{x * 100:.1f} %' for x in r['window2_cpu'])} |")
    if "window3_cpu" in r:
        print(f"| + HTTP listeners | {' | '.join(f'{x * 100:.1f} %' for x in r['window3_cpu'])} |")
    print()
    print(f"owner CPU with its listeners and two edges fed: {r['owner_cpu'] * 100:.1f} % "
          f"of a core ({cpus('window2_cpu')})")
    print(f"owner: {r['owner_us_per_listener_packet']:.1f} µs per own listener-packet "
          "(the edges' feeds included)")
    print("edge: " + " / ".join(f"{x:.1f}" for x in r["edge_us_per_listener_packet"])
          + " µs per listener-packet (b / c)")
    print(f"send loop per packet (the batched C send): owner {r['owner_send_loop_us']:.1f} µs, "
          f"edge b {r['edge_send_loop_us']:.1f} µs")
    print("WebRTC delivered: " + " / ".join(f"{x * 100:.0f} %" for x in r["delivered"])
          + " (a / b / c)")
    if "edge_added_ms" in r:
        lat = r["edge_added_ms"]
        print(f"edge listener vs owner listener, same packet: +{lat['median']:.2f} ms median, "
              f"+{lat['p95']:.2f} ms p95 ({lat['packets']} packets)")
    if "http_us_per_listener_second" in r:
        print(f"HTTP: {r['http_us_per_listener_second']:.0f} µs of c's CPU per listener-second "
              f"({r['http_us_per_listener_second'] / PACKETS_PER_SECOND:.1f} µs per "
              f"listener-packet), {r['http_delivered'] * 100:.0f} % delivered, "
              f"{r['http_kbytes_per_listener_second']:.1f} kB/s each")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.audience", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--listeners", type=int, default=100,
                        help="WebRTC listeners on each of the three nodes")
    parser.add_argument("--http", type=int, default=1000, help="HTTP listeners on node c")
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    args = parser.parse_args(argv)
    if args.listeners < 1 or args.http < 0:
        parser.error("--listeners at least 1, --http at least 0")
    result = asyncio.run(run(args.listeners, args.http, args.seconds, args.warmup))
    report(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
