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
import random
import time
import uuid
from typing import Any
from urllib.parse import urlparse

from client.connection import ClientError, Event, VoiceClient
from client.load.actors import Audience, Host
from client.load.stats import EXPECTED_ERRORS, Stats, format_report, percentile
from protocol.tokens import issue_token

__all__ = ["EXPECTED_ERRORS", "Stats", "add_arguments", "check_loopback", "format_report",
           "percentile", "run", "run_load"]

MAX_CLIENTS = 2000
MAX_DURATION = 600.0
CONNECT_CONCURRENCY = 50


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
