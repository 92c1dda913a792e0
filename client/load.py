"""`python -m client load`: many clients over a few rooms, with realistic churn.

R of the N clients host one room each (half the rooms open the chatroom at once,
half stay voice lives that switch by themselves at the third pending request);
the others spread over the rooms and, for D seconds, chat, ask for the mic, leave
their seat, cancel a request, leave the room and come back, list rooms. Hosts
accept every request (rejecting it when the seats are full) and now and then
free a seat. Prints p50/p99 request latency per request type and a count of
each error code, split into errors the churn makes normal (a seat that filled
up first, a request already answered) and unexpected ones; exit status 1 if
there were unexpected ones.

Bounded: at most MAX_CLIENTS clients, MAX_DURATION seconds, loopback servers only.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import math
import random
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

from client.connection import ClientError, Event, VoiceClient
from protocol.tokens import issue_token

MAX_CLIENTS = 2000
MAX_DURATION = 600.0
CONNECT_CONCURRENCY = 50

# What the churn itself causes: two claims for the last seat, a host answering a request
# its author just cancelled, a user freed from a seat by the host while leaving it, ...
EXPECTED_ERRORS = frozenset({
    "seats_full", "seat_taken", "seat_locked", "no_such_request", "already_requested",
    "already_seated", "not_seated", "wrong_mode",
})


@dataclass
class Stats:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: Counter[str] = field(default_factory=Counter)
    errors_by_type: Counter[tuple[str, str]] = field(default_factory=Counter)
    events: Counter[str] = field(default_factory=Counter)
    connect_failures: int = 0
    reconnects: int = 0
    recording: bool = True  # off for the tear-down, whose refusals mean nothing

    def on_reply(self, request_type: str, seconds: float, code: str | None) -> None:
        if not self.recording:
            return
        self.latencies[request_type].append(seconds)
        if code is not None:
            self.errors[code] += 1
            self.errors_by_type[(request_type, code)] += 1

    def on_event(self, event: Event) -> None:
        if self.recording:
            self.events[str(event.get("type"))] += 1

    def note_client_error(self, exc: ClientError) -> None:
        # Server refusals are counted in on_reply; these are the client-side failures.
        if self.recording and exc.code in ("timeout", "connection_lost", "closed"):
            self.errors[exc.code] += 1

    @property
    def unexpected(self) -> dict[str, int]:
        return {code: n for code, n in self.errors.items() if code not in EXPECTED_ERRORS}

    def report(self, duration: float, clients: int, rooms: int) -> dict[str, Any]:
        per_type = {}
        for kind, values in sorted(self.latencies.items()):
            ordered = sorted(values)
            per_type[kind] = {
                "count": len(ordered),
                "p50_ms": round(percentile(ordered, 50) * 1000, 2),
                "p99_ms": round(percentile(ordered, 99) * 1000, 2),
            }
        return {
            "clients": clients,
            "rooms": rooms,
            "duration_s": round(duration, 2),
            "requests": sum(len(v) for v in self.latencies.values()),
            "latency": per_type,
            "errors": dict(sorted(self.errors.items())),
            "errors_by_type": {f"{t}:{c}": n for (t, c), n in sorted(self.errors_by_type.items())},
            "unexpected_errors": dict(sorted(self.unexpected.items())),
            "events": dict(sorted(self.events.items())),
            "reconnects": self.reconnects,
        }


def percentile(ordered: list[float], pct: float) -> float:
    """Nearest-rank percentile of an already sorted list (0 for an empty one)."""
    if not ordered:
        return 0.0
    rank = max(1, min(len(ordered), math.ceil(pct / 100 * len(ordered))))
    return ordered[rank - 1]


def check_loopback(url: str) -> None:
    host = urlparse(url).hostname or ""
    if host == "localhost":
        return
    try:
        if ipaddress.ip_address(host).is_loopback:
            return
    except ValueError:
        pass
    raise SystemExit(f"error: load runs against a loopback server only, not {host!r}")


class Actor:
    def __init__(
        self, client: VoiceClient, room: str, rng: random.Random, think: float, stats: Stats
    ) -> None:
        self.client = client
        self.room = room
        self.rng = rng
        self.think = think
        self.stats = stats

    def on_event(self, event: Event) -> None:
        raise NotImplementedError


class Audience(Actor):
    """One listener's behaviour: a random walk over what audience members do."""

    def __init__(
        self, client: VoiceClient, room: str, rng: random.Random, think: float, stats: Stats
    ) -> None:
        super().__init__(client, room, rng, think, stats)
        self.seat: int | None = None
        self.requested = False
        self.in_room = False
        self.chats = 0

    @property
    def seated(self) -> bool:
        return self.seat is not None

    def find_seat(self, seats: list[Any]) -> None:
        me = self.client.user
        self.seat = next(
            (s.get("index") for s in seats if isinstance(s, dict) and s.get("user") == me), None
        )

    def on_event(self, event: Event) -> None:
        kind = event.get("type")
        if kind == "mic_accepted":
            self.seat, self.requested = event.get("seat"), False
        elif kind == "mic_rejected":
            self.requested = False
        elif kind == "seat_changed":
            seat = event.get("seat") or {}
            if seat.get("user") == self.client.user:
                self.seat = seat.get("index")
            elif seat.get("index") == self.seat:
                self.seat = None
        elif kind == "mode_changed":
            self.find_seat(event.get("seats") or [])
        elif kind in ("room_closed", "kicked"):
            self.in_room = self.requested = False
            self.seat = None

    async def act(self, deadline: float) -> None:
        c = self.client
        while time.monotonic() < deadline:
            await asyncio.sleep(self.rng.uniform(0.5, 1.5) * self.think)
            if time.monotonic() >= deadline:
                break
            try:
                if not self.in_room:
                    reply = await c.join_room(self.room)
                    self.in_room = True
                    self.find_seat(reply["room"].get("seats") or [])
                    continue
                roll = self.rng.random()
                if roll < 0.40:
                    self.chats += 1
                    await c.chat(self.room, f"hello #{self.chats} from {c.user}")
                elif roll < 0.62:
                    if self.seated:
                        await c.leave_seat(self.room)
                        self.seat = None
                    elif not self.requested:
                        await c.request_mic(self.room, note="load")
                        self.requested = True
                    else:
                        await c.cancel_mic_request(self.room)
                        self.requested = False
                elif roll < 0.72:
                    if self.seated:
                        await c.mute(self.room)
                        await c.unmute(self.room)
                elif roll < 0.82:
                    await c.list_rooms(limit=20)
                else:
                    await c.leave_room(self.room)
                    self.in_room = self.requested = False
                    self.seat = None
            except ClientError as exc:
                self.stats.note_client_error(exc)
                if exc.code == "not_seated":
                    self.seat = None
                elif exc.code == "no_such_request":
                    self.requested = False
                elif exc.code in ("already_seated", "already_requested"):
                    # Our view lagged behind the events: re-read the room.
                    self.in_room = False
                elif exc.code in ("closed", "connection_lost", "timeout"):
                    await asyncio.sleep(0.1)


class Host(Actor):
    """A room's host: accepts every request, frees a seat now and then."""

    def __init__(
        self, client: VoiceClient, room: str, rng: random.Random, think: float, stats: Stats
    ) -> None:
        super().__init__(client, room, rng, think, stats)
        self.requests: asyncio.Queue[str] = asyncio.Queue()
        self.seats: dict[int, str | None] = {}

    def on_event(self, event: Event) -> None:
        kind = event.get("type")
        if kind == "mic_requested" and event.get("room") == self.room:
            self.requests.put_nowait(str(event.get("user")))
        elif kind == "seat_changed":
            seat = event.get("seat") or {}
            self.seats[int(seat.get("index", 0))] = seat.get("user")
        elif kind == "mode_changed":
            seats = event.get("seats") or []
            self.seats = {int(s.get("index", i)): s.get("user") for i, s in enumerate(seats)}

    async def answer(self, deadline: float) -> None:
        c = self.client
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            try:
                user = await asyncio.wait_for(self.requests.get(), remaining)
            except TimeoutError:
                return
            try:
                await c.accept_mic(self.room, user)
            except ClientError as exc:
                self.stats.note_client_error(exc)
                if exc.code == "seats_full":
                    try:
                        await c.reject_mic(self.room, user)
                    except ClientError as again:
                        self.stats.note_client_error(again)

    async def churn(self, deadline: float) -> None:
        c = self.client
        while time.monotonic() < deadline:
            await asyncio.sleep(self.rng.uniform(2.0, 4.0) * self.think)
            occupied = [i for i, user in self.seats.items() if user is not None]
            if occupied and time.monotonic() < deadline:
                try:
                    await c.kick_seat(self.room, self.rng.choice(occupied))
                except ClientError as exc:
                    self.stats.note_client_error(exc)


async def run_load(
    url: str,
    *,
    clients: int,
    rooms: int,
    duration: float,
    think: float = 0.5,
    binary: bool = True,
    secret: str | None = None,
    seed: int | None = None,
) -> dict[str, Any]:
    """Run one load test; returns the report (see `Stats.report`)."""
    if not 1 <= rooms <= clients <= MAX_CLIENTS:
        raise ValueError(f"need 1 <= rooms <= clients <= {MAX_CLIENTS}")
    if not 0 < duration <= MAX_DURATION:
        raise ValueError(f"duration must be in (0, {MAX_DURATION}] seconds")
    check_loopback(url)
    rng = random.Random(seed)
    run_id = uuid.uuid4().hex[:6]
    stats = Stats()
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)
    opened: list[VoiceClient] = []

    async def open_one(index: int, on_event: Any) -> VoiceClient:
        user = f"load-{run_id}-{index}"
        name = f"Load {index}"
        token = issue_token(secret, user, name, 3600, time.time()) if secret else None
        async with gate:
            client = await VoiceClient.connect(
                url, user=None if token else user, name=None if token else name, token=token,
                binary=binary, on_reply=stats.on_reply, on_event=on_event, history=1,
                request_timeout=15.0,
            )
        opened.append(client)
        return client

    def event_hook(target: list[Any]) -> Any:
        def hook(event: Event) -> None:
            stats.on_event(event)
            if target:
                target[0].on_event(event)

        return hook

    started = time.monotonic()
    try:
        hosts: list[Host] = []
        for r in range(rooms):
            slot: list[Any] = []
            client = await open_one(r, event_hook(slot))
            chatroom = r % 2 == 0
            reply = await client.create_room(
                f"Load room {r}", seats=8, auto_chatroom_at=0 if chatroom else 3
            )
            host = Host(client, str(reply["room"]["id"]), random.Random(rng.random()), think, stats)
            slot.append(host)
            if chatroom:
                await client.open_chatroom(host.room)
            hosts.append(host)

        async def make_audience(index: int) -> Audience | None:
            slot: list[Any] = []
            try:
                client = await open_one(index, event_hook(slot))
            except ClientError:
                stats.connect_failures += 1
                return None
            room = hosts[index % rooms].room
            member = Audience(client, room, random.Random(rng.random()), think, stats)
            slot.append(member)
            return member

        audience = [
            a for a in await asyncio.gather(*(make_audience(i) for i in range(rooms, clients)))
            if a is not None
        ]
        deadline = time.monotonic() + duration
        tasks = [h.answer(deadline) for h in hosts] + [h.churn(deadline) for h in hosts]
        tasks += [a.act(deadline) for a in audience]
        await asyncio.gather(*tasks)
    finally:
        stats.recording = False
        for client in opened:
            stats.reconnects += client.reconnects
        await asyncio.gather(*(c.close(leave=True) for c in opened), return_exceptions=True)
    report = stats.report(time.monotonic() - started, clients, rooms)
    report["connect_failures"] = stats.connect_failures
    if stats.connect_failures:
        report["unexpected_errors"]["connect_failed"] = stats.connect_failures
    return report


def format_report(report: dict[str, Any]) -> list[str]:
    lines = [
        f"load: {report['clients']} clients, {report['rooms']} rooms,"
        f" {report['duration_s']} s, {report['requests']} requests,"
        f" {sum(report['events'].values())} events received, {report['reconnects']} reconnects",
        f"{'request':<20} {'count':>7} {'p50 ms':>9} {'p99 ms':>9}",
    ]
    for kind, row in report["latency"].items():
        lines.append(f"{kind:<20} {row['count']:>7} {row['p50_ms']:>9.2f} {row['p99_ms']:>9.2f}")
    if report["errors"]:
        lines.append("errors:")
        for code, count in report["errors"].items():
            tag = "expected under churn" if code in EXPECTED_ERRORS else "UNEXPECTED"
            lines.append(f"  {code:<20} {count:>7}  {tag}")
    else:
        lines.append("errors: none")
    unexpected = sum(report["unexpected_errors"].values())
    lines.append(f"unexpected errors: {unexpected}")
    return lines


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--clients", type=int, default=50,
                        help=f"clients in all, hosts included (at most {MAX_CLIENTS})")
    parser.add_argument("--rooms", type=int, default=5, help="rooms (one host each)")
    parser.add_argument("--duration", type=float, default=20.0,
                        help=f"seconds of churn (at most {MAX_DURATION:.0f})")
    parser.add_argument("--think", type=float, default=0.5,
                        help="mean seconds between one client's actions")
    parser.add_argument("--secret", help="the server's secret, to mint tokens for the clients")
    parser.add_argument("--seed", type=int, help="random seed")
    parser.add_argument("--report", help="also write the report as JSON to this file")


async def run(args: argparse.Namespace) -> int:
    try:
        report = await run_load(
            args.url, clients=args.clients, rooms=args.rooms, duration=args.duration,
            think=args.think, binary=not args.json, secret=args.secret, seed=args.seed,
        )
    except ValueError as exc:
        raise SystemExit(f"error: {exc}") from None
    for line in format_report(report):
        print(line, flush=True)
    if args.report:
        with open(args.report, "w", encoding="utf-8") as out:
            json.dump(report, out, indent=2)
    return 1 if report["unexpected_errors"] else 0
