"""Room capacity under concurrency (docs/protocol.md invariants 1-4), over real websockets."""

from __future__ import annotations

import asyncio
import random
from collections import Counter

from protocol.schema import MAX_SEATS
from tests.support.server import RunningServer, WireClient, close_all, running_server

RACERS = 200
REQUESTERS = 50


async def connect_many(srv: RunningServer, prefix: str, count: int) -> list[WireClient]:
    clients: list[WireClient] = []
    # In batches: a 200-connection handshake storm would only measure the listen backlog.
    for start in range(0, count, 50):
        batch = range(start, min(count, start + 50))
        clients += await asyncio.gather(*(srv.client(f"{prefix}{i}") for i in batch))
    return clients


async def test_200_clients_race_for_8_free_seats() -> None:
    # A generous rate: every racer sends a handful of requests in a burst.
    async with running_server(rate=1000.0, burst=1000) as srv:
        host = await srv.client("host")
        room = (await host.call("create_room", title="race", seat_mode="free",
                                auto_chatroom_at=0))["room"]["id"]
        await host.call("open_chatroom", room=room)
        racers = await connect_many(srv, "r", RACERS)
        await asyncio.gather(*(c.call("join_room", room=room) for c in racers))
        rng = random.Random(3)
        # The first race names six of the eight seats; the second one races for the rest.
        choices = [rng.randrange(MAX_SEATS - 2) for _ in racers]
        replies = await asyncio.gather(*(c.request("take_seat", room=room, seat=seat)
                                         for c, seat in zip(racers, choices, strict=True)))
        winners = [(c.user, r["seat"]) for c, r in zip(racers, replies, strict=True)
                   if r["type"] == "ok"]
        losers = Counter(r["code"] for r in replies if r["type"] == "error")
        assert set(losers) <= {"seat_taken", "seats_full"}, losers
        # Exactly min(free seats, contenders for them) succeed: one per seat somebody named.
        assert len(winners) == len(set(choices))
        assert len({seat for _, seat in winners}) == len(winners)  # no seat twice
        assert sum(losers.values()) == RACERS - len(winners)

        # The ones left fill the remaining seats by naming free ones, then everyone else loses.
        state = (await host.call("join_room", room=room))["room"]
        free = [s["index"] for s in state["seats"] if s["user"] is None]
        seated_users = {user for user, _ in winners}
        rest = [c for c in racers if c.user not in seated_users]
        assert len(free) == 2
        replies = await asyncio.gather(*(
            c.request("take_seat", room=room, seat=free[i % len(free)])
            for i, c in enumerate(rest)))
        winners += [(c.user, r["seat"]) for c, r in zip(rest, replies, strict=True)
                    if r["type"] == "ok"]
        assert {r["code"] for r in replies if r["type"] == "error"} == {"seat_taken"}
        assert len(winners) == MAX_SEATS
        state = (await host.call("join_room", room=room))["room"]
        seated = [s["user"] for s in state["seats"] if s["user"] is not None]
        assert len(seated) == MAX_SEATS == len(set(seated))
        assert set(seated) == {user for user, _ in winners}
        # Everyone in the room saw the same final seats through seat_changed events.
        for client in racers[:20]:
            final = {}
            for received in client.log:
                message = received.message
                if message.get("type") == "seat_changed":
                    final[message["seat"]["index"]] = message["seat"]["user"]
            assert sorted(u for u in final.values() if u) == sorted(seated)
        await close_all([host, *racers])


async def test_host_accepts_50_concurrent_requesters_onto_8_seats() -> None:
    async with running_server(rate=1000.0, burst=1000) as srv:
        host = await srv.client("host")
        room = (await host.call("create_room", title="queue", auto_chatroom_at=0))["room"]["id"]
        admin = await srv.client("admin")
        await admin.call("join_room", room=room)
        await host.call("set_admin", room=room, user="admin", admin=True)
        await host.call("open_chatroom", room=room)
        requesters = await connect_many(srv, "q", REQUESTERS)
        await asyncio.gather(*(c.call("join_room", room=room) for c in requesters))
        positions = await asyncio.gather(*(c.call("request_mic", room=room)
                                           for c in requesters))
        assert sorted(p["position"] for p in positions) == list(range(1, REQUESTERS + 1))
        state = (await host.call("join_room", room=room))["room"]
        assert len(state["queue"]) == REQUESTERS
        assert len({entry["user"] for entry in state["queue"]}) == REQUESTERS

        # Host and admin accept everyone at once, from two connections.
        users = [c.user for c in requesters]
        replies = await asyncio.gather(*(
            (host if i % 2 else admin).request("accept_mic", room=room, user=user)
            for i, user in enumerate(users)))
        accepted = [user for user, r in zip(users, replies, strict=True) if r["type"] == "ok"]
        refused = Counter(r["code"] for r in replies if r["type"] == "error")
        assert len(accepted) == MAX_SEATS
        assert refused == {"seats_full": REQUESTERS - MAX_SEATS}
        seats = [r["seat"] for r in replies if r["type"] == "ok"]
        assert sorted(seats) == list(range(MAX_SEATS))

        state = (await host.call("join_room", room=room))["room"]
        assert sorted(s["user"] for s in state["seats"]) == sorted(accepted)
        assert len(state["queue"]) == REQUESTERS - MAX_SEATS
        for client in requesters:
            if client.user in accepted:
                assert (await client.event("mic_accepted"))["seat"] in seats
        await close_all([host, admin, *requesters])
