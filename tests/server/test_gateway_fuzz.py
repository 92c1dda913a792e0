"""Random requests with wrong, odd and extreme values: each gets exactly one clear reply.

Seeded, bounded, over a real websocket: nothing may crash the server or answer `internal`.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from typing import Any

from protocol.errors import ErrorCode
from protocol.schema import REQUEST_TYPES
from tests.support.server import http_get, running_server

FIELDS = ("room", "user", "seat", "title", "seats", "seat_mode", "auto_chatroom_at", "limit",
          "cursor", "note", "accept", "admin", "ban", "text", "sdp", "token", "name")
KNOWN_CODES = {code.value for code in ErrorCode} - {"internal"}
ROUNDS = 600


def odd_value(rng: random.Random, room: str) -> Any:
    choices: list[Any] = [
        None, True, False, 0, -1, 1, 7, 8, 2**31, 2**63 - 1, -(2**63), 1.5, float("-0.0"),
        "", " ", "x" * 65, "x" * 501, "ok", "a b", "../..", "\u0000", "é" * 10, "\U0001f600",
        room, "host", "guest", "free", "apply", [], [1, "a"], {}, {"a": {"b": [None]}},
        b"\x00\xff", "0", "8",
    ]
    return rng.choice(choices)


def random_request(rng: random.Random, rid: int, room: str) -> dict[str, Any]:
    kind = rng.choice([*REQUEST_TYPES, "nope", "", "HELLO"])
    message: dict[str, Any] = {"id": rid, "type": kind}
    for field in rng.sample(FIELDS, rng.randrange(0, 5)):
        message[field] = odd_value(rng, room)
    if rng.random() < 0.5:
        message["room"] = room  # often a real room, so the room rules are reached too
    return message


async def test_random_requests_get_one_clear_reply_each() -> None:
    async with running_server(rate=10_000.0, burst=10_000) as srv:
        host = await srv.client("host")
        room = (await host.call("create_room", title="fuzz", seat_mode="free"))["room"]["id"]
        guest = await srv.client("guest")
        await guest.call("join_room", room=room)
        rng = random.Random(20261128)
        codes: Counter[str] = Counter()
        for client in (guest, host):
            ids = []
            for _ in range(ROUNDS // 2):
                rid = client.next_id()
                ids.append(rid)
                request = random_request(rng, rid, room)
                # JSON has no bytes: such a request can only travel as MessagePack.
                has_bytes = any(isinstance(v, bytes) for v in request.values())
                await client.send(request, binary=has_bytes or rng.random() < 0.5)
            replies: dict[int, dict[str, Any]] = {}
            while len(replies) < len(ids):
                await asyncio.sleep(0.02)
                for received in client.log:
                    message = received.message
                    if message.get("id") in ids and message["type"] in ("ok", "error"):
                        assert replies.setdefault(message["id"], message) is message or \
                            replies[message["id"]] == message
                if client.close_code is not None:
                    raise AssertionError(f"server closed the socket: {client.close_code}")
            answered = [r.message["id"] for r in client.log
                        if r.message.get("type") in ("ok", "error") and r.message.get("id") in ids]
            assert sorted(answered) == sorted(ids)  # exactly one reply per request
            for reply in replies.values():
                if reply["type"] == "error":
                    assert reply["code"] in KNOWN_CODES, reply
                    assert reply["message"]
                    codes[reply["code"]] += 1
        assert codes["bad_request"] > 0 and codes["unknown_type"] > 0, codes
        status, _, _ = await http_get(srv.host, srv.port, "/healthz")
        assert status == 200
        # Both still get served (the host's random requests may have closed the room).
        fresh = (await host.call("create_room", title="after"))["room"]["id"]
        await guest.call("join_room", room=fresh)
        await guest.call("chat", room=fresh, text="still fine")
        assert (await host.event("chat_message"))["text"] == "still fine"
        await host.close()
        await guest.close()
