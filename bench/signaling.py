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
import base64
import contextlib
import gc
import itertools
import json
import os
import random
import resource
import struct
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from client.connection import ClientError, Event, VoiceClient
from protocol import codec
from server.process import server_child

try:
    from websockets.speedups import apply_mask
except ImportError:  # pure-Python websockets
    from websockets.utils import apply_mask
from client.load import percentile

REPO_ROOT = Path(__file__).resolve().parent.parent
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
MAX_CLIENTS = 5000
MAX_DURATION = 120.0
CONNECT_CONCURRENCY = 100

GOAL_US_PER_EVENT = 15.0
GOAL_KIB_PER_IDLE = 30.0
GOAL_P99_MS = 20.0


# ---- the server process ------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, from /proc/PID/stat."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def system_seconds(pid: int) -> float:
    """stime alone: the kernel's share (on loopback, mostly the sends to the clients)."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[12]) / CLK_TCK


def runqueue_wait_seconds(pid: int) -> float:
    """Time the process's main thread spent runnable but waiting for a CPU (schedstat)."""
    try:
        with open(f"/proc/{pid}/schedstat", encoding="ascii") as f:
            return int(f.read().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return float("nan")


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/statm", encoding="ascii") as f:
        return int(f.read().split()[1]) * PAGE


def split_cpus() -> tuple[set[int] | None, set[int] | None]:
    """(server CPUs, client CPUs): the first allowed CPU for the server, the rest for us."""
    allowed = sorted(os.sched_getaffinity(0))
    if len(allowed) < 2:
        return None, None
    return {allowed[0]}, set(allowed[1:])


# ---- the clients -------------------------------------------------------------------------------


class LeanClient(asyncio.Protocol):
    """A bench client on a bare asyncio connection: the websocket handshake and frames by hand,
    msgpack only. `client.VoiceClient` spends ~55 µs of Python per event it receives (the
    websockets asyncio layer, queues, history); 2,000 of them receiving ~11,000 events a
    second fill a core, and their queueing then shows up as server latency. This one spends a
    few µs, so the clients' process stays well below its core and the figures are the server's.
    Speaks PROTOCOL.md as any outside client would (masked frames, pongs to pings).
    """

    def __init__(self, user: str, on_event: Callable[[Event], None],
                 on_reply: Callable[[str, float, str | None], None]) -> None:
        self.user = user
        self.on_event = on_event
        self.on_reply = on_reply
        self._transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._upgraded: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._ids = itertools.count(1)
        self._pending: dict[int, tuple[str, float, asyncio.Future[Event]]] = {}

    @classmethod
    async def connect(cls, url: str, user: str, name: str,
                      on_event: Callable[[Event], None],
                      on_reply: Callable[[str, float, str | None], None]) -> LeanClient:
        parsed = urlsplit(url)
        client = cls(user, on_event, on_reply)
        loop = asyncio.get_running_loop()
        await loop.create_connection(lambda: client, parsed.hostname or "localhost",
                                     parsed.port or 80)
        assert client._transport is not None
        key = base64.b64encode(os.urandom(16)).decode()
        client._transport.write(
            f"GET {parsed.path or '/'} HTTP/1.1\r\nHost: {parsed.netloc}\r\n"
            f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n".encode())
        await asyncio.wait_for(client._upgraded, 30)
        await client.request("hello", user=user, name=name)
        return client

    # requests, as VoiceClient names them
    async def request(self, kind: str, **params: Any) -> Event:
        rid = next(self._ids)
        future: asyncio.Future[Event] = asyncio.get_running_loop().create_future()
        self._pending[rid] = (kind, time.perf_counter(), future)
        frame = codec.encode({"id": rid, "type": kind, **params}, True)
        assert isinstance(frame, bytes)  # binary: msgpack
        self._send(frame)
        reply = await asyncio.wait_for(future, 30)
        if reply.get("type") == "error":
            raise ClientError(str(reply.get("code")), str(reply.get("message")), reply)
        return reply

    async def create_room(self, title: str, **params: Any) -> Event:
        return await self.request("create_room", title=title, **params)

    async def open_chatroom(self, room: str) -> Event:
        return await self.request("open_chatroom", room=room)

    async def join_room(self, room: str) -> Event:
        return await self.request("join_room", room=room)

    async def chat(self, room: str, text: str) -> Event:
        return await self.request("chat", room=room, text=text)

    async def take_seat(self, room: str, seat: int) -> Event:
        return await self.request("take_seat", room=room, seat=seat)

    async def leave_seat(self, room: str) -> Event:
        return await self.request("leave_seat", room=room)

    async def list_rooms(self, limit: int) -> Event:
        return await self.request("list_rooms", limit=limit)

    async def close(self) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._send(b"\x03\xe8", opcode=0x8)
            self._transport.close()

    def _send(self, payload: bytes, opcode: int = 0x2) -> None:
        assert self._transport is not None
        mask = os.urandom(4)
        n = len(payload)
        if n < 126:
            head = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
        elif n < 65536:
            head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
        else:
            head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
        self._transport.write(head + mask + apply_mask(payload, mask))

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        if not self._upgraded.done():
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            if not buffer.startswith(b"HTTP/1.1 101"):
                self._upgraded.set_exception(ClientError("connect_failed", bytes(buffer[:80])
                                                         .decode(errors="replace")))
                return
            del buffer[:end + 4]
            self._upgraded.set_result(None)
        pos, size = 0, len(buffer)
        while size - pos >= 2:
            first, second = buffer[pos], buffer[pos + 1] & 0x7F  # server frames: unmasked
            start = pos + 2
            if second == 126:
                if size - start < 2:
                    break
                second = int.from_bytes(buffer[start:start + 2], "big")
                start += 2
            elif second == 127:
                if size - start < 8:
                    break
                second = int.from_bytes(buffer[start:start + 8], "big")
                start += 8
            if size - start < second:
                break
            payload = bytes(buffer[start:start + second])
            pos = start + second
            opcode = first & 0x0F
            if opcode in (0x1, 0x2):
                self._message(codec.decode(payload))
            elif opcode == 0x9:
                self._send(payload, opcode=0xA)
        del buffer[:pos]

    def _message(self, message: Event) -> None:
        rid = message.get("id")
        if isinstance(rid, int) and message.get("type") in ("ok", "error"):
            pending = self._pending.pop(rid, None)
            if pending is not None:
                kind, started, future = pending
                code = str(message.get("code")) if message.get("type") == "error" else None
                self.on_reply(kind, time.perf_counter() - started, code)
                if not future.done():
                    future.set_result(message)
            return
        self.on_event(message)

    def connection_lost(self, exc: Exception | None) -> None:
        for _, _, future in self._pending.values():
            if not future.done():
                future.set_exception(ClientError("connection_lost", str(exc)))
        self._pending.clear()
        if not self._upgraded.done():
            self._upgraded.set_exception(ClientError("connect_failed", str(exc)))


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
                for pid in (server.proc.pid, os.getpid()):
                    try:
                        os.setpriority(os.PRIO_PROCESS, pid, args.nice)
                    except PermissionError:
                        print(f"--nice {args.nice}: not permitted, running at the default",
                              file=sys.stderr)
                        break
            report = asyncio.run(run_bench(
                Target(server.url, server.proc.pid), clients=args.clients, rooms=args.rooms,
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
