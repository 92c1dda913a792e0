"""The transport and session rules of docs/protocol.md, over real websockets on loopback."""

from __future__ import annotations

import asyncio
import json
import socket
import time

import msgpack
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from protocol import codec
from protocol.tokens import issue_token
from tests.support.server import WireClient, http_get, running_server

SECRET = "test-secret-not-for-production"


def binary_of(client: WireClient, message: dict[str, object]) -> bool:
    """Whether `message` reached the client in a binary frame."""
    return next(r.binary for r in client.log if r.message is message)


async def test_bad_frame_gets_error_without_id_and_connection_stays_open() -> None:
    async with running_server() as srv, await srv.client() as c:
        bad_frames: list[bytes | str] = [
            "[1, 2, 3]",  # JSON, not an object
            "not json at all",
            '"just a string"',
            msgpack.packb([1, 2]),  # MessagePack array
            b"\xc1",  # never-used MessagePack byte
            msgpack.packb(7),
        ]
        for frame in bad_frames:
            await c.send_raw(frame)
            error = await c.next_message()
            assert error["type"] == "error"
            assert error["code"] == "bad_frame"
            assert "id" not in error
            # The error speaks the encoding of the frame it answers.
            assert c.log[-1].binary == isinstance(frame, bytes)
        # Still open and serving.
        reply = await c.call("hello", user="alice")
        assert reply["user"] == "alice"


async def test_request_without_valid_id_gets_bad_request_without_id() -> None:
    async with running_server() as srv, await srv.client() as c:
        for bad in ({"type": "hello", "user": "a"}, {"id": 0, "type": "hello"},
                    {"id": -3, "type": "hello"}, {"id": "7", "type": "hello"},
                    {"id": True, "type": "hello"}, {"id": 1.5, "type": "hello"}):
            await c.send(bad)
            error = await c.next_message()
            assert error["code"] == "bad_request"
            assert "id" not in error
            assert "id" in error["message"]


async def test_bad_request_names_the_field_and_keeps_the_id() -> None:
    async with running_server() as srv, await srv.client("alice") as c:
        reply = await c.request("create_room", title="")
        assert reply["type"] == "error" and reply["code"] == "bad_request"
        assert reply["field"] == "title" and "title" in reply["message"]
        reply = await c.request("create_room", title="ok", seats=9)
        assert reply["code"] == "bad_request" and reply["field"] == "seats"
        reply = await c.request("join_room")
        assert reply["code"] == "bad_request" and reply["field"] == "room"
        reply = await c.request("chat", room="r", text=5)
        assert reply["code"] == "bad_request" and reply["field"] == "text"
        reply = await c.request("take_seat", room="r", seat="0")
        assert reply["code"] == "bad_request" and reply["field"] == "seat"


async def test_unknown_type() -> None:
    async with running_server() as srv, await srv.client("alice") as c:
        reply = await c.request("dance", room="x")
        assert reply["type"] == "error" and reply["code"] == "unknown_type"
        assert reply["id"] >= 1


async def test_requests_before_hello_are_not_authenticated_but_bad_request_comes_first() -> None:
    async with running_server() as srv, await srv.client() as c:
        for kind, params in (("create_room", {"title": "t"}), ("list_rooms", {}),
                             ("join_room", {"room": "abc"}), ("chat", {"room": "a", "text": "x"}),
                             ("webrtc_offer", {"room": "a", "sdp": "v=0"})):
            assert await c.error(kind, **params) == "not_authenticated"
        # A malformed request is bad_request even before hello (precedence).
        assert await c.error("create_room", title="") == "bad_request"


async def test_hello_development_mode() -> None:
    async with running_server() as srv, await srv.client() as c:
        reply = await c.request("hello")
        assert reply["code"] == "bad_request" and reply["field"] == "user"
        reply = await c.request("hello", user="bad user!")
        assert reply["code"] == "bad_request" and reply["field"] == "user"
        reply = await c.call("hello", user="alice")
        assert reply["user"] == "alice" and reply["name"] == "alice"
        assert reply["server"]["node"] == srv.settings.node_id
        assert isinstance(reply["server"]["version"], str)
        reply = await c.call("hello", user="alice", name="Alice A.")
        assert reply["name"] == "Alice A."


async def test_hello_token_mode_good_bad_expired_missing() -> None:
    async with running_server(secret=SECRET) as srv, await srv.client() as c:
        now = time.time()
        assert await c.error("hello", user="alice") == "not_authenticated"  # no token
        assert await c.error("hello", token="") == "not_authenticated"
        assert await c.error("hello", token="a.b.c") == "not_authenticated"
        wrong = issue_token("another-secret", "alice", "Alice", 60, now)
        assert await c.error("hello", token=wrong) == "not_authenticated"
        expired = issue_token(SECRET, "alice", "Alice", 60, now - 120)
        reply = await c.request("hello", token=expired)
        assert reply["code"] == "not_authenticated" and "expired" in reply["message"]
        # Still not authenticated after the failures.
        assert await c.error("list_rooms") == "not_authenticated"
        good = issue_token(SECRET, "alice", "Alice", 60, now)
        # The token decides who the user is, whatever `user` says.
        reply = await c.call("hello", token=good, user="mallory")
        assert (reply["user"], reply["name"]) == ("alice", "Alice")
        assert (await c.call("list_rooms"))["rooms"] == []


async def test_replies_use_the_frame_encoding_and_events_the_first_frame_encoding() -> None:
    async with running_server() as srv:
        host = await srv.client("host", binary=True)
        # A client that starts with a text frame: its events come as text.
        text_first = await WireClient.connect(srv.url, binary=False)
        await text_first.call("hello", user="t")
        room = (await host.call("create_room", title="enc"))["room"]["id"]
        # The text-first client now sends a binary request: the reply is binary ...
        reply = await text_first.request("join_room", room=room, binary=True)
        assert reply["type"] == "ok" and binary_of(text_first, reply)
        joined = await host.event("member_joined")
        assert binary_of(host, joined)
        # ... and events still come as text, the first frame's encoding.
        await host.call("chat", room=room, text="hi")
        message = await text_first.event("chat_message")
        assert message["text"] == "hi"
        assert not binary_of(text_first, message)
        # A text request from the binary client gets a text reply.
        reply = await host.request("chat", room=room, text="x", binary=False)
        assert reply["type"] == "ok" and not binary_of(host, reply)
        await host.close()
        await text_first.close()


async def test_reply_comes_before_the_events_it_causes() -> None:
    async with running_server() as srv:
        host = await srv.client("host")
        guest = await srv.client("guest")
        room = (await host.call("create_room", title="order", seat_mode="free"))["room"]["id"]
        await guest.call("join_room", room=room)
        reply = await guest.call("take_seat", room=room, seat=0)
        change = await guest.event("seat_changed")
        log = [r.message for r in guest.log]
        assert log.index(reply) < log.index(change)
        reply = await guest.call("chat", room=room, text="first")
        line = await guest.event("chat_message")
        log = [r.message for r in guest.log]
        assert log.index(reply) < log.index(line)
        await host.close()
        await guest.close()


async def test_oversize_frame_closes_with_1009() -> None:
    async with running_server() as srv:
        c = await srv.client("alice")
        await c.send_raw(b"\x00" * (codec.MAX_FRAME + 1))
        assert await c.closed() == 1009
        # A frame just under the limit is read and answered (here: the text is too long).
        c2 = await srv.client("bob")
        reply = await c2.request("chat", room="r", text="x" * (codec.MAX_FRAME - 100))
        assert reply["code"] == "bad_request" and reply["field"] == "text"
        assert c2.close_code is None
        await c2.close()


async def test_flood_is_rate_limited_while_another_client_is_served() -> None:
    async with running_server(rate=5.0, burst=10) as srv:
        flooder = await srv.client("flood")
        calm = await srv.client("calm")
        # Fire 60 requests without waiting for replies.
        ids = [flooder.next_id() for _ in range(60)]
        for rid in ids:
            await flooder.send({"id": rid, "type": "list_rooms"})
        codes = []
        while len(codes) < len(ids):
            message = await flooder.next_message()
            codes.append(message["type"] if message["type"] == "ok" else message["code"])
        limited = codes.count("rate_limited")
        assert limited >= 40, codes
        assert codes.count("ok") + limited == len(ids)
        # The other client is not slowed down by it.
        for _ in range(5):
            assert (await calm.call("list_rooms"))["rooms"] == []
        await flooder.close()
        await calm.close()


async def test_webrtc_offer_without_media_is_internal_and_connection_survives() -> None:
    async with running_server(media=False) as srv:
        c = await srv.client("alice")
        room = (await c.call("create_room", title="m"))["room"]["id"]
        reply = await c.request("webrtc_offer", room=room, sdp="v=0\r\n")
        assert reply["code"] == "internal"
        assert reply["message"] == "media is not available on this server"
        # Room errors come before it.
        assert await c.error("webrtc_offer", room="nope", sdp="v=0") == "no_such_room"
        assert (await c.call("chat", room=room, text="still here"))["type"] == "ok"
        await c.close()


async def test_unexpected_exception_is_internal_and_connection_kept(
        monkeypatch: pytest.MonkeyPatch) -> None:
    async with running_server() as srv:
        c = await srv.client("alice")

        async def broken(limit: int, cursor: str | None) -> dict[str, object]:
            raise RuntimeError("store exploded")

        monkeypatch.setattr(srv.service, "list_rooms", broken)
        reply = await c.request("list_rooms")
        assert reply["code"] == "internal"
        assert "exploded" not in reply["message"]  # internals stay in the log
        monkeypatch.undo()
        assert (await c.call("list_rooms"))["rooms"] == []
        await c.close()


async def test_json_text_client_end_to_end() -> None:
    async with running_server() as srv, connect(srv.url) as ws:
        await ws.send(json.dumps({"id": 1, "type": "hello", "user": "txt"}))
        reply = json.loads(await ws.recv())
        assert reply == {"id": 1, "type": "ok", "user": "txt", "name": "txt",
                         "app": "main", "verified": False, "server": reply["server"]}


async def test_max_connections_refuses_more() -> None:
    async with running_server(max_connections=2) as srv:
        a = await srv.client("a")
        b = await srv.client("b")
        with pytest.raises(InvalidStatus) as info:
            await WireClient.connect(srv.url)
        assert info.value.response.status_code == 503
        await a.close()
        await b.close()


async def test_webrtc_offer_with_garbage_sdp_with_media_on() -> None:
    async with running_server(media=True) as srv:
        if srv.media is None:
            pytest.fail("audio/engine.py should provide the media engine")
        c = await srv.client("alice")
        room = (await c.call("create_room", title="m"))["room"]["id"]
        reply = await c.request("webrtc_offer", room=room, sdp="this is not sdp")
        # The engine refuses an offer it cannot parse as a bad field, not a server fault.
        assert reply["code"] == "bad_request" and reply["field"] == "sdp"
        assert (await c.call("chat", room=room, text="still here"))["type"] == "ok"
        status, _, body = await http_get(srv.host, srv.port, "/metrics")
        assert status == 200 and "voiceroom_media_ticks_total " in body.decode()
        await c.close()


async def test_a_client_that_stops_reading_is_closed_and_others_keep_receiving() -> None:
    async with running_server() as srv:
        srv.gateway.send_limit = 256 * 1024
        host = await srv.client("host")
        room = (await host.call("create_room", title="slow"))["room"]["id"]
        # A small receive buffer and a one-message queue: this client soon stops reading.
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect((srv.host, srv.port))
        slow = await WireClient.connect(srv.url, user="slow", sock=sock, max_queue=1)
        await slow.call("join_room", room=room)
        slow._reader.cancel()  # nobody reads its socket any more
        levels = {f"user{i:04d}": 0.5 for i in range(1500)}  # ~20 KB per event
        sent = 0
        while srv.gateway.metrics.slow_clients_closed == 0 and sent < 2000:
            srv.gateway.delivery.levels(room, levels)
            sent += 1
            if sent % 20 == 0:
                await asyncio.sleep(0)  # let the loop flush to the reader that keeps up
        assert srv.gateway.metrics.slow_clients_closed == 1
        assert sent < 2000
        # The host, who reads, got every one of them.
        for _ in range(sent):
            await host.event("speaking")
        assert host.close_code is None
        assert slow.ws.transport is not None
        slow.ws.transport.abort()
        await host.close()


async def test_hello_again_renames_but_cannot_switch_user_inside_a_room() -> None:
    async with running_server() as srv:
        c = await srv.client("alice", name="Alice")
        assert (await c.call("hello", user="alice", name="Alice Two"))["name"] == "Alice Two"
        # Not in a room yet: the socket may become someone else.
        assert (await c.call("hello", user="bob"))["user"] == "bob"
        room = (await c.call("create_room", title="mine"))["room"]
        assert room["host"]["user"] == "bob"
        assert await c.error("hello", user="carol") == "forbidden"
        # Still bob, still the host.
        assert (await c.call("close_room", room=room["id"]))["type"] == "ok"
        await c.close()
