"""Seat operations across nodes sharing Redis: `python -m bench.redis_seats`.

Starts a private redis-server and three `run_server.py --redis URL --node-id ID` processes
(signaling only). A probe room has a member on node 1 send a chat line every
`--probe-interval` seconds and measures when members on nodes 2 and 3 receive it (one process,
one clock): the cross-node event latency. It runs in three phases:

1. idle: the probe alone;
2. paced: `--rooms` free-seat chatrooms of `--members` members each (each room's members on
   different nodes) cycle `take_seat` (a random seat) -> `leave_seat` at `--paced-ops` seat
   operations a second in all, for a busy but unsaturated cluster;
3. flat out: for `--duration` seconds every member cycles as fast as replies come back
   (closed loop): seat operations per second over all nodes (every take/leave answered,
   refusals included), p50/p99 claim latency (client round trip of `take_seat`), refusals,
   and the node processes' and Redis's CPU per operation.

Goals: >= 2,000 seat ops/s across three nodes on a 2-core machine, cross-node event p99
<= 10 ms (paced phase). Bounded: about `duration + 25` seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import itertools
import json
import os
import random
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from bench.lean_client import LeanClient
from bench.procstat import children_cpu
from client.connection import ClientError
from client.load.stats import percentile
from server.process import RedisServer, cluster_nodes

NODES = 3
GOAL_OPS = 2000.0
GOAL_EVENT_P99_MS = 10.0
MAX_DURATION = 120.0
# Far above what the bench sends per connection: the gateway's rate limit is not under test.
RATE_FLAGS = ("--rate", "100000", "--burst", "100000")


class Refused(Exception):
    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


class Client:
    """A lean protocol client (bench.signaling's `LeanClient`: a bare asyncio websocket,
    msgpack): replies by id; events only looked at for the probe. Cheap per event, so the
    bench process, which shares the machine with the nodes, takes little of it."""

    def __init__(self, user: str) -> None:
        self.user = user
        self.probe_arrivals: dict[str, float] = {}
        self._lean: LeanClient | None = None

    @classmethod
    async def open(cls, url: str, user: str) -> Client:
        client = cls(user)
        client._lean = await LeanClient.connect(url, user, user, client._on_event, _no_reply)
        return client

    def _on_event(self, message: dict[str, Any]) -> None:
        if message.get("type") == "chat_message":
            self.probe_arrivals[str(message.get("text"))] = time.perf_counter()

    async def call(self, kind: str, **params: Any) -> dict[str, Any]:
        assert self._lean is not None
        try:
            return await self._lean.request(kind, **params)
        except ClientError as exc:
            raise Refused(exc.code) from None

    async def close(self) -> None:
        if self._lean is not None:
            await self._lean.close()


def _no_reply(kind: str, seconds: float, code: str | None) -> None:
    pass


@dataclass
class SeatStats:
    ops: int = 0
    refused: int = 0
    claim_ms: list[float] = field(default_factory=list)


async def seat_cycles(client: Client, room_id: str, seats: int, stop: asyncio.Event,
                      stats: SeatStats, pause: float = 0.0) -> None:
    """take_seat -> leave_seat until stopped; `pause` seconds between cycles (0: flat out)."""
    while not stop.is_set():
        if pause:
            await asyncio.sleep(random.uniform(0.5, 1.5) * pause)
        seat = random.randrange(seats)
        started = time.perf_counter()
        try:
            await client.call("take_seat", room=room_id, seat=seat)
        except Refused:
            stats.claim_ms.append((time.perf_counter() - started) * 1000)
            stats.ops += 1
            stats.refused += 1
            continue
        stats.claim_ms.append((time.perf_counter() - started) * 1000)
        stats.ops += 1
        await client.call("leave_seat", room=room_id)
        stats.ops += 1


async def probe(sender: Client, receivers: Sequence[Client], room_id: str, interval: float,
                stop: asyncio.Event) -> list[float]:
    """Chat lines from node 1; their arrival at members on the other nodes, in ms."""
    sent: dict[str, float] = {}
    for n in itertools.count():
        if stop.is_set():
            break
        text = f"probe {n}"
        sent[text] = time.perf_counter()
        await sender.call("chat", room=room_id, text=text)
        await asyncio.sleep(interval)
    await asyncio.sleep(0.5)  # the last lines' arrivals
    return sorted(
        (receiver.probe_arrivals[text] - at) * 1000
        for text, at in sent.items()
        for receiver in receivers
        if text in receiver.probe_arrivals
    )


@contextlib.asynccontextmanager
async def cluster(redis_url: str) -> AsyncIterator[list[str]]:
    ids = [f"bench{i + 1}" for i in range(NODES)]
    async with cluster_nodes(redis_url, ids, "--no-media", *RATE_FLAGS) as nodes:
        yield [node.url for node in nodes]


async def make_room(host: Client, seats: int) -> str:
    reply = await host.call("create_room", title="bench", seats=seats, seat_mode="free",
                            auto_chatroom_at=0)
    room_id = str(reply["room"]["id"])
    await host.call("open_chatroom", room=room_id)
    return room_id


async def run(args: argparse.Namespace) -> dict[str, Any]:
    server = RedisServer()
    server.start()
    clients: list[Client] = []
    try:
        async with cluster(server.url) as urls:
            gate = asyncio.Semaphore(100)

            async def open_client(i: int, user: str) -> Client:
                async with gate:
                    client = await Client.open(urls[i % len(urls)], user)
                clients.append(client)
                return client

            # The probe room: sender on node 1, receivers on nodes 2 and 3.
            probe_host = await open_client(0, "probe-host")
            probe_room = await make_room(probe_host, 1)
            receivers = [await open_client(i, f"probe-rx{i}") for i in (1, 2)]
            for receiver in receivers:
                await receiver.call("join_room", room=probe_room)

            idle_stop = asyncio.Event()
            idle_task = asyncio.create_task(
                probe(probe_host, receivers, probe_room, args.probe_interval, idle_stop))
            await asyncio.sleep(min(5.0, args.duration))
            idle_stop.set()
            idle_ms = await idle_task

            # The seat rooms: host and members spread so every room spans the nodes.
            hosts = await asyncio.gather(
                *(open_client(r, f"h{r}") for r in range(args.rooms)))
            rooms = await asyncio.gather(*(make_room(h, args.seats) for h in hosts))
            members: list[tuple[Client, str]] = []
            specs = [(r, m) for r in range(args.rooms) for m in range(args.members)]
            opened = await asyncio.gather(
                *(open_client(r + m + 1, f"m{r}-{m}") for r, m in specs))
            for (r, _), client in zip(specs, opened, strict=True):
                await client.call("join_room", room=rooms[r])
                members.append((client, rooms[r]))

            # This process's own collections (walking every client's objects) would show up as
            # latency of the nodes: none while measuring.
            gc.collect()
            gc.freeze()
            gc.disable()

            # Paced: every member cycles at a fraction of the rate, the probe measures events
            # crossing nodes on a busy but not saturated cluster.
            paced = SeatStats()
            stop = asyncio.Event()
            pause = 2 * len(members) / args.paced_ops
            workers = [asyncio.create_task(seat_cycles(c, rid, args.seats, stop, paced, pause))
                       for c, rid in members]
            probe_task = asyncio.create_task(
                probe(probe_host, receivers, probe_room, args.probe_interval, stop))
            paced_started = time.perf_counter()
            await asyncio.sleep(min(5.0, args.duration))
            stop.set()
            paced_elapsed = time.perf_counter() - paced_started
            await asyncio.gather(*workers, return_exceptions=True)
            paced_ms = await probe_task

            # Flat out: every member cycles as fast as replies come back.
            stats = SeatStats()
            stop = asyncio.Event()
            cpu_before = _children_cpu()
            client_cpu = time.process_time()
            started = time.perf_counter()
            workers = [asyncio.create_task(seat_cycles(c, rid, args.seats, stop, stats))
                       for c, rid in members]
            probe_task = asyncio.create_task(
                probe(probe_host, receivers, probe_room, args.probe_interval, stop))
            await asyncio.sleep(args.duration)
            stop.set()
            elapsed = time.perf_counter() - started
            client_cpu = time.process_time() - client_cpu
            await asyncio.gather(*workers, return_exceptions=True)
            busy_ms = await probe_task
            cpu_after = _children_cpu()
    finally:
        gc.enable()
        await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)
        server.stop()
    claims = sorted(stats.claim_ms)
    return {
        "nodes": NODES,
        "rooms": args.rooms,
        "members_per_room": args.members,
        "seats": args.seats,
        "duration_s": round(elapsed, 1),
        "seat_ops_per_s": round(stats.ops / elapsed),
        "claims_refused_pct": round(100 * stats.refused / max(1, len(claims)), 1),
        "claim_p50_ms": round(percentile(claims, 50), 2),
        "claim_p99_ms": round(percentile(claims, 99), 2),
        "event_idle_p50_ms": round(percentile(idle_ms, 50), 2),
        "event_idle_p99_ms": round(percentile(idle_ms, 99), 2),
        "event_idle_samples": len(idle_ms),
        "paced_seat_ops_per_s": round(paced.ops / paced_elapsed),
        "event_paced_p50_ms": round(percentile(paced_ms, 50), 2),
        "event_paced_p99_ms": round(percentile(paced_ms, 99), 2),
        "event_paced_samples": len(paced_ms),
        "event_loaded_p50_ms": round(percentile(busy_ms, 50), 2),
        "event_loaded_p99_ms": round(percentile(busy_ms, 99), 2),
        "event_loaded_samples": len(busy_ms),
        "node_cpu_us_per_op": round(
            1e6 * (cpu_after["nodes"] - cpu_before["nodes"]) / max(1, stats.ops)),
        "redis_cpu_us_per_op": round(
            1e6 * (cpu_after["redis"] - cpu_before["redis"]) / max(1, stats.ops)),
        # Near 100: the clients (this process), not the nodes, set the pace.
        "client_cpu_pct": round(100 * client_cpu / elapsed),
        "load_average": round(os.getloadavg()[0], 1),
    }


def _children_cpu() -> dict[str, float]:
    """CPU seconds so far of the children: the node processes together, and redis-server."""
    return children_cpu(os.getpid(), group="redis", others="nodes")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.redis_seats",
                                     description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--rooms", type=int, default=24)
    parser.add_argument("--members", type=int, default=6, help="members per room (not the host)")
    parser.add_argument("--seats", type=int, default=8)
    parser.add_argument("--duration", type=float, default=15.0)
    parser.add_argument("--probe-interval", type=float, default=0.02)
    parser.add_argument("--paced-ops", type=float, default=300.0,
                        help="seat ops/s of the paced phase (default 300)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON only")
    args = parser.parse_args(argv)
    if not 0 < args.duration <= MAX_DURATION:
        parser.error(f"--duration: 0 to {MAX_DURATION:g} seconds")
    if not 1 <= args.seats <= 8:
        parser.error("--seats: 1 to 8")
    if args.paced_ops <= 0:
        parser.error("--paced-ops: > 0")
    if args.rooms < 1 or args.members < 1:
        parser.error("--rooms and --members: at least 1")
    figures = asyncio.run(run(args))
    if args.json:
        print(json.dumps(figures))
        return 0
    for key, value in figures.items():
        print(f"{key:24} {value}")
    ops_ok = figures["seat_ops_per_s"] >= GOAL_OPS
    event_ok = figures["event_paced_p99_ms"] <= GOAL_EVENT_P99_MS
    print(f"goal seat ops/s >= {GOAL_OPS:g}: {'met' if ops_ok else 'NOT met'}")
    print(f"goal cross-node event p99 <= {GOAL_EVENT_P99_MS:g} ms "
          f"(paced phase, {figures['paced_seat_ops_per_s']} seat ops/s): "
          f"{'met' if event_ok else 'NOT met'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
