"""The signaling bench's run against one server: connect, fill the rooms, drive them open
loop, and read the server's CPU, memory and the request latencies (bench/signaling.py prints
them). The server is any `Target`: a child this bench started, or one already running.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from bench.lean_client import LeanClient
from bench.procstat import cpu_seconds, rss_bytes, runqueue_wait_seconds, system_seconds
from client.connection import ClientError, Event, VoiceClient
from client.load.stats import percentile

CONNECT_CONCURRENCY = 100


@dataclass
class Tally:
    events: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    latency_by_type: dict[str, list[float]] = field(default_factory=dict)
    errors: Counter[str] = field(default_factory=Counter)
    probe: list[float] = field(default_factory=list)
    client_lag: list[float] = field(default_factory=list)
    counting: bool = False

    def on_event(self, event: Event) -> None:
        kind = event.get("type")
        if self.counting and isinstance(kind, str) and not kind.startswith("_"):
            self.events[kind] += 1

    def on_reply(self, kind: str, seconds: float, code: str | None) -> None:
        if not self.counting or kind == "list_rooms":  # the probe's, reported apart
            return
        self.latencies.append(seconds)
        self.latency_by_type.setdefault(kind, []).append(seconds)
        if code is not None:
            self.errors[code] += 1


@dataclass
class Room:
    id: str
    host: Any  # LeanClient or VoiceClient: the same request methods
    members: list[Any]
    seats: dict[int, str | None]

    def on_host_event(self, event: Event) -> None:
        if event.get("type") == "seat_changed" and event.get("room") == self.id:
            seat = event.get("seat") or {}
            self.seats[int(seat.get("index", 0))] = seat.get("user")


async def drive_room(
    room: Room, ops: float, deadline: float, rng: random.Random, tally: Tally
) -> None:
    """Open loop: start one request every 1/ops seconds, whatever the replies do."""
    inflight: set[asyncio.Task[Any]] = set()
    by_user = {c.user: c for c in room.members}
    step = 1.0 / ops
    next_at = time.monotonic() + rng.uniform(0, step)
    n = 0
    while True:
        now = time.monotonic()
        if now >= deadline:
            break
        if next_at > now:
            await asyncio.sleep(next_at - now)
        next_at += step
        n += 1
        if n % 2:
            speaker = rng.choice(room.members)
            coro: Any = speaker.chat(room.id, f"message {n}")
        else:
            occupied = [(i, u) for i, u in room.seats.items() if u is not None]
            free = [i for i, u in room.seats.items() if u is None]
            if occupied and (not free or rng.random() < 0.5):
                _, user = rng.choice(occupied)
                client = by_user.get(user)
                coro = client.leave_seat(room.id) if client else room.host.list_rooms(limit=1)
            else:
                seated = {u for _, u in occupied}
                candidates = [c for c in room.members if c.user not in seated]
                coro = rng.choice(candidates).take_seat(room.id, rng.choice(free))
        task = asyncio.ensure_future(_quiet(coro, tally))
        inflight.add(task)
        task.add_done_callback(inflight.discard)
    if inflight:
        await asyncio.wait(inflight, timeout=10)


async def probe(client: Any, deadline: float, tally: Tally) -> None:
    """`list_rooms` ten times a second from one client, timed apart from the room traffic:
    if its latency stays low while room requests lag, the lag is per room, not the loop."""
    while time.monotonic() < deadline:
        t0 = time.perf_counter()
        with contextlib.suppress(ClientError):
            await client.request("list_rooms", limit=1)
        tally.probe.append(time.perf_counter() - t0)
        await asyncio.sleep(0.1)


async def loop_lag(deadline: float, tally: Tally) -> None:
    """How late this (client) process's event loop wakes up: a stalled client inflates
    every latency it measures."""
    while (now := time.monotonic()) < deadline:
        await asyncio.sleep(0.01)
        tally.client_lag.append(time.monotonic() - now - 0.01)


async def _quiet(coro: Any, tally: Tally) -> None:
    with contextlib.suppress(ClientError):
        await coro


@dataclass(frozen=True)
class Target:
    url: str
    pid: int


async def run_bench(
    server: Target, *, clients: int, rooms: int, duration: float, ops: float, seed: int,
    voice_client: bool = False,
) -> dict[str, Any]:
    rng = random.Random(seed)
    tally = Tally()
    pid = server.pid
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)
    opened: list[Any] = []

    async def connect(index: int) -> Any:
        client: Any
        async with gate:
            if voice_client:
                client = await VoiceClient.connect(
                    server.url, user=f"bench-{index}", name=f"Bench {index}", history=0,
                    on_event=tally.on_event, on_reply=tally.on_reply, reconnect=False,
                    request_timeout=30.0,
                )
            else:
                client = await LeanClient.connect(
                    server.url, f"bench-{index}", f"Bench {index}", tally.on_event,
                    tally.on_reply)
        opened.append(client)
        return client

    try:
        await asyncio.sleep(1.0)
        rss_before = rss_bytes(pid)
        t0 = time.monotonic()
        all_clients = await asyncio.gather(*(connect(i) for i in range(clients)))
        connect_seconds = time.monotonic() - t0
        await asyncio.sleep(1.0)
        rss_idle = rss_bytes(pid)

        room_list: list[Room] = []
        for r in range(rooms):
            host = all_clients[r]
            state = (await host.create_room(f"Bench {r}", seats=8, seat_mode="free",
                                            auto_chatroom_at=0))["room"]
            await host.open_chatroom(state["id"])
            room = Room(state["id"], host, [], {i: None for i in range(8)})
            host.on_event = _chain(host.on_event, room.on_host_event)
            room_list.append(room)
        audience = all_clients[rooms:]
        for i, client in enumerate(audience):
            room_list[i % rooms].members.append(client)

        async def join(client: Any, room: Room) -> None:
            async with gate:
                await client.join_room(room.id)

        await asyncio.gather(*(join(c, room) for room in room_list for c in room.members))
        await asyncio.sleep(1.5)  # let audience_changed bursts settle before measuring
        rss_joined = rss_bytes(pid)

        # The clients' own collections (about a tenth of their CPU here, walking thousands of
        # long-lived connection objects) would show up as request latency: none while driving.
        gc.collect()
        gc.freeze()
        gc.disable()
        tally.counting = True
        server_cpu0 = cpu_seconds(pid)
        server_sys0 = system_seconds(pid)
        server_wait0, client_wait0 = runqueue_wait_seconds(pid), runqueue_wait_seconds(os.getpid())
        client_cpu0 = time.process_time()
        wall0 = time.monotonic()
        deadline = wall0 + duration
        await asyncio.gather(
            probe(all_clients[-1], deadline, tally),
            loop_lag(deadline, tally),
            *(drive_room(room, ops, deadline, random.Random(rng.random()), tally)
              for room in room_list),
        )
        await asyncio.sleep(1.0)  # deliveries still in flight
        tally.counting = False
        wall = time.monotonic() - wall0
        server_cpu = cpu_seconds(pid) - server_cpu0
        server_sys = system_seconds(pid) - server_sys0
        server_wait = runqueue_wait_seconds(pid) - server_wait0
        client_wait = runqueue_wait_seconds(os.getpid()) - client_wait0
        client_cpu = time.process_time() - client_cpu0
    finally:
        tally.counting = False
        gc.enable()
        await asyncio.gather(*(c.close() for c in opened), return_exceptions=True)

    delivered = sum(tally.events.values())
    ordered = sorted(tally.latencies)
    load1 = os.getloadavg()[0]
    members = clients - rooms
    return {
        "clients": clients,
        "rooms": rooms,
        "duration_s": round(wall, 1),
        "ops_per_room_per_s": ops,
        "connect_s": round(connect_seconds, 1),
        "requests": len(ordered),
        "errors": dict(tally.errors),
        "events_delivered": delivered,
        "events_per_s": round(delivered / wall),
        "events_by_type": dict(tally.events.most_common()),
        "server_cpu_s": round(server_cpu, 2),
        "server_cpu_share": round(server_cpu / wall, 2),
        "client_cpu_share": round(client_cpu / wall, 2),
        # Runnable but not running: the share of the window each process waited for a CPU.
        "server_cpu_wait_share": round(server_wait / wall, 2),
        "client_cpu_wait_share": round(client_wait / wall, 2),
        "server_us_per_event": round(server_cpu * 1e6 / delivered, 2) if delivered else None,
        "server_system_us_per_event": (round(server_sys * 1e6 / delivered, 2) if delivered
                                       else None),
        "p50_ms": round(percentile(ordered, 50) * 1000, 2),
        "p99_ms": round(percentile(ordered, 99) * 1000, 2),
        "latency_ms_by_type": {
            kind: {"p50": round(percentile(sorted(v), 50) * 1000, 2),
                   "p99": round(percentile(sorted(v), 99) * 1000, 2), "count": len(v)}
            for kind, v in sorted(tally.latency_by_type.items())
        },
        "load_average_1min": round(load1, 2),
        "niceness": os.getpriority(os.PRIO_PROCESS, 0),
        "cpus": os.cpu_count(),
        "probe_ms": {"p50": round(percentile(sorted(tally.probe), 50) * 1000, 2),
                     "p99": round(percentile(sorted(tally.probe), 99) * 1000, 2),
                     "count": len(tally.probe)},
        "client_loop_lag_ms": {"p50": round(percentile(sorted(tally.client_lag), 50) * 1000, 2),
                               "p99": round(percentile(sorted(tally.client_lag), 99) * 1000, 2),
                               "max": round(max(tally.client_lag, default=0) * 1000, 2)},
        "rss_before_mib": round(rss_before / 2**20, 1),
        "kib_per_idle_connection": round((rss_idle - rss_before) / 1024 / clients, 1),
        "kib_per_room_member": round((rss_joined - rss_idle) / 1024 / max(members, 1), 1),
    }


def _chain(*hooks: Any) -> Any:
    live = [h for h in hooks if h is not None]

    def hook(event: Event) -> None:
        for h in live:
            h(event)

    return hook


