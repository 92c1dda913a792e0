"""VoiceClient end to end against a real `run_server.py` subprocess."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from client import ClientError, VoiceClient, user_from_name
from protocol.tokens import issue_token
from tests.client.serverproc import Proxy, Server, free_port, run_server

pytestmark = pytest.mark.timeout(90)


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    with run_server() as srv:
        yield srv


def uid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def seat_of(state: dict[str, Any], user: str) -> int | None:
    return next((s["index"] for s in state["seats"] if s["user"] == user), None)


@pytest.mark.parametrize("binary", [True, False])
async def test_hello_create_join_mic_link_chat(server: Server, binary: bool) -> None:
    host_id, guest_id = uid("host"), uid("guest")
    async with (
        VoiceClient.connect(server.url, user=host_id, name="Host", binary=binary) as host,
        VoiceClient.connect(server.url, user=guest_id, name="Guest", binary=binary) as guest,
    ):
        assert host.user == host_id and host.name == "Host"
        assert set(host.server) >= {"version", "node"}
        state = (await host.create_room("Evening talk", seats=4))["room"]
        room = state["id"]
        assert state["host"]["user"] == host_id and state["mode"] == "live"
        assert host.rooms == {room}

        joined = await guest.join_room(room)
        assert joined["role"] == "audience" and guest.rooms == {room}
        assert (await guest.request_mic(room, note="hi"))["position"] == 1
        requested = await host.wait_for("mic_requested", room=room)
        assert requested["user"] == guest_id and requested["position"] == 1

        assert (await host.accept_mic(room, guest_id))["seat"] == 0
        assert (await guest.wait_for("mic_accepted"))["seat"] == 0
        changed = await guest.wait_for("seat_changed", lambda e: e["seat"]["user"] == guest_id)
        assert changed["seat"]["index"] == 0

        listing = await guest.list_rooms(limit=100)
        entry = next(r for r in listing["rooms"] if r["id"] == room)
        assert entry["title"] == "Evening talk" and entry["seated"] == 1

        stream = host.events()
        await guest.chat(room, "hello there")
        ev = await stream.get(timeout=5)
        while ev["type"] != "chat_message":
            ev = await stream.get(timeout=5)
        assert (ev["user"], ev["text"]) == (guest_id, "hello there")

        await guest.leave_room(room)
        assert guest.rooms == set()
        await host.close_room(room)
        assert host.rooms == set()


async def test_refusals_raise_client_error_with_the_wire_code(server: Server) -> None:
    async with VoiceClient.connect(server.url, name="Refused Rita") as c:
        assert c.user == user_from_name("Refused Rita") == "refused-rita"
        with pytest.raises(ClientError) as info:
            await c.join_room("no-such-room")
        assert info.value.code == "no_such_room"
        assert info.value.reply is not None and info.value.reply["type"] == "error"
        # The client does not validate: the server's bad_request comes back as such.
        with pytest.raises(ClientError) as info:
            await c.take_seat("r", 99)
        assert info.value.code == "bad_request" and "seat" in info.value.message
        with pytest.raises(ClientError) as info:
            await c.request("no_such_verb")
        assert info.value.code == "unknown_type"
        # The connection is still usable afterwards.
        assert "rooms" in await c.list_rooms()


async def test_every_request_method(server: Server) -> None:
    """Each method sends its request type with its parameters (the server's answers show it)."""
    h, a, b = uid("h"), uid("a"), uid("b")
    async with (
        VoiceClient.connect(server.url, user=h, name="H") as host,
        VoiceClient.connect(server.url, user=a, name="A") as alice,
        VoiceClient.connect(server.url, user=b, name="B", binary=False) as bob,
    ):
        room = (
            await host.create_room("All verbs", seats=3, seat_mode="free", auto_chatroom_at=0)
        )["room"]["id"]
        await alice.join_room(room)
        await bob.join_room(room)

        await alice.request_mic(room)
        await alice.cancel_mic_request(room)
        await host.wait_for("mic_request_cancelled", room=room)
        await bob.request_mic(room)
        await host.reject_mic(room, b)
        await bob.wait_for("mic_rejected")

        state = (await host.open_chatroom(room))["room"]
        assert state["mode"] == "chatroom" and len(state["seats"]) == 3
        assert (await alice.take_seat(room, 2))["seat"] == 2
        assert (await alice.switch_seat(room, 1))["seat"] == 1
        await alice.mute(room)
        await alice.unmute(room)
        await host.mute_seat(room, 1)
        await host.unmute_seat(room, 1)
        await alice.leave_seat(room)

        await host.invite_to_seat(room, b, seat=0)
        assert (await bob.wait_for("seat_invited"))["seat"] == 0
        assert (await bob.answer_invite(room, True))["seat"] == 0
        await host.kick_seat(room, 0)
        await host.lock_seat(room, 2)
        with pytest.raises(ClientError) as info:
            await alice.take_seat(room, 2)
        assert info.value.code == "seat_locked"
        await host.unlock_seat(room, 2)

        await host.set_admin(room, a, True)
        role = await bob.wait_for("role_changed", lambda e: e["user"] == a)
        assert role["role"] == "admin"
        await alice.kick_member(room, b, ban=True)
        assert (await bob.wait_for("kicked"))["room"] == room
        assert room not in bob.rooms
        with pytest.raises(ClientError) as info:
            await bob.join_room(room)
        assert info.value.code == "banned"

        state = (await host.close_chatroom(room))["room"]
        assert state["mode"] == "live"
        with pytest.raises(ClientError) as info:
            await alice.webrtc_offer(room, "v=0\r\n")
        assert info.value.code != "bad_request"  # this server runs without media
        await host.close_room(room)
        closed = await alice.wait_for("room_closed")
        assert closed["room"] == room and room not in alice.rooms


async def test_event_streams_and_wait_for(server: Server) -> None:
    async with (
        VoiceClient.connect(server.url, user=uid("h"), name="H") as host,
        VoiceClient.connect(server.url, user=uid("g"), name="G") as guest,
    ):
        room = (await host.create_room("Streams"))["room"]["id"]
        await guest.join_room(room)
        first, second = guest.events(), guest.events()
        for n in range(3):
            await host.chat(room, f"m{n}")
        texts: list[str] = []
        while len(texts) < 3:
            ev = await first.get(timeout=5)
            if ev["type"] == "chat_message":
                texts.append(ev["text"])
        assert texts == ["m0", "m1", "m2"]
        # Each stream has its own queue.
        got = [await second.get(timeout=5) for _ in range(3)]
        assert [e["text"] for e in got if e["type"] == "chat_message"][:1] == ["m0"]

        # wait_for returns each matching event once, oldest first, and honours predicates.
        assert (await guest.wait_for("chat_message"))["text"] == "m0"
        assert (await guest.wait_for("chat_message", lambda e: e["text"] == "m2"))["text"] == "m2"
        assert (await guest.wait_for("chat_message"))["text"] == "m1"
        mark = guest.mark()
        with pytest.raises(ClientError) as info:
            await guest.wait_for("chat_message", timeout=0.3)
        assert info.value.code == "timeout"
        await host.chat(room, "later")
        assert (await guest.wait_for("chat_message", since=mark))["text"] == "later"

        # An event that arrives while waiting wakes the waiter.
        waiter = asyncio.create_task(guest.wait_for("chat_message", timeout=5))
        await asyncio.sleep(0.1)
        await host.chat(room, "wake")
        assert (await waiter)["text"] == "wake"

        first.close()
        await host.chat(room, "after close")
        await guest.wait_for("chat_message", lambda e: e["text"] == "after close")
        with pytest.raises(ClientError):
            await first.get(timeout=0.2)
    # Closing the client ends the streams still subscribed, after what they hold.
    rest = [ev async for ev in second]
    assert rest[-1]["type"] == "_closed"
    assert guest.closed and not guest.connected


async def test_reconnect_and_rejoin_after_the_socket_drops(server: Server) -> None:
    proxy = Proxy(server.port)
    await proxy.start()
    h, g = uid("h"), uid("g")
    try:
        async with (
            VoiceClient.connect(server.url, user=h, name="H") as host,
            VoiceClient.connect(proxy.url, user=g, name="G") as guest,
        ):
            room = (await host.create_room("Drop test", auto_chatroom_at=0))["room"]["id"]
            await guest.join_room(room)
            await guest.request_mic(room)
            await host.wait_for("mic_requested")
            await host.accept_mic(room, g)
            await guest.wait_for("mic_accepted")
            mark = guest.mark()

            proxy.cut()
            lost = await guest.wait_for("_disconnected", since=mark)
            assert lost["code"] != 4000
            # The server holds the seat for the dropped user while the client comes back.
            reconnected = await guest.wait_for("_reconnected", timeout=15, since=mark)
            assert reconnected["rooms"] == [room]
            assert guest.reconnects == 1 and guest.connected
            assert proxy.connections == 2
            state = (await guest.join_room(room))["room"]
            assert seat_of(state, g) == 0
            assert not state["seats"][0]["away"]
            # Requests and events flow again on the new socket.
            await host.chat(room, "welcome back")
            assert (await guest.wait_for("chat_message", since=mark))["text"] == "welcome back"
            await guest.chat(room, "thanks")
            thanks = await host.wait_for("chat_message", lambda e: e["user"] == g)
            assert thanks["text"] == "thanks"
    finally:
        await proxy.stop()


async def test_request_in_flight_when_the_socket_drops(server: Server) -> None:
    proxy = Proxy(server.port)
    await proxy.start()
    async with VoiceClient.connect(proxy.url, user=uid("x"), name="X") as c:
        await proxy.stop()  # no way back: every attempt is refused
        c.reconnect_for = 1.0
        with pytest.raises(ClientError) as info:
            await c.request("list_rooms")
        assert info.value.code in ("connection_lost", "closed", "timeout")
        closed = await c.wait_for("_closed", timeout=10)
        assert "reconnect" in closed["reason"]
        assert c.closed
        with pytest.raises(ClientError) as info:
            await c.list_rooms()
        assert info.value.code == "closed"


async def test_replaced_connection_does_not_reconnect(server: Server) -> None:
    user = uid("twin")
    async with VoiceClient.connect(server.url, user=uid("h"), name="H") as host:
        room = (await host.create_room("Twins"))["room"]["id"]
        old = await VoiceClient.connect(server.url, user=user, name="Old")
        try:
            await old.join_room(room)
            async with VoiceClient.connect(server.url, user=user, name="New") as new:
                await new.join_room(room)
                await old.wait_for("replaced", timeout=5)
                await asyncio.wait_for(old.wait_closed(), 10)
                assert old.reconnects == 0 and old.closed
                assert room not in old.rooms
                assert "rooms" in await new.list_rooms()
        finally:
            await old.close()


async def test_close_is_clean_and_final(server: Server) -> None:
    c = await VoiceClient.connect(server.url, user=uid("c"), name="C")
    stream = c.events()
    room = (await c.create_room("Short"))["room"]["id"]
    await c.close(leave=True)
    await c.close()  # idempotent
    assert c.closed
    with pytest.raises(ClientError) as info:
        await c.list_rooms()
    assert info.value.code == "closed"
    assert [ev async for ev in stream][-1]["type"] == "_closed"
    # Leaving on close closed the room (the host left).
    async with VoiceClient.connect(server.url, user=uid("d"), name="D") as d:
        with pytest.raises(ClientError) as info:
            await d.join_room(room)
        assert info.value.code == "no_such_room"


async def test_connect_failures() -> None:
    with pytest.raises(ClientError) as info:
        await VoiceClient.connect(f"ws://127.0.0.1:{free_port()}/ws", user="u", name="U")
    assert info.value.code == "connect_failed"


async def test_token_auth() -> None:
    secret = "client-test-secret"
    with run_server("--secret", secret) as srv:
        token = issue_token(secret, "tok-user", "Token User", 600, time.time())
        async with VoiceClient.connect(srv.url, token=token) as c:
            assert (c.user, c.name) == ("tok-user", "Token User")
            assert "rooms" in await c.list_rooms()
        expired = issue_token(secret, "tok-user", "Token User", 1, time.time() - 10)
        for bad in (expired, token + "x", None):
            with pytest.raises(ClientError) as info:
                await VoiceClient.connect(srv.url, token=bad, user="u" if bad is None else None)
            assert info.value.code == "not_authenticated"


async def test_a_failing_hook_does_not_stop_the_client(server: Server) -> None:
    seen: list[str] = []

    def flaky(event: dict[str, Any]) -> None:
        seen.append(event["type"])
        if event["type"] == "chat_message":
            raise RuntimeError("hook bug")

    async with (
        VoiceClient.connect(server.url, user=uid("h"), name="H") as host,
        VoiceClient.connect(server.url, user=uid("g"), name="G", on_event=flaky) as guest,
    ):
        room = (await host.create_room("Hooks"))["room"]["id"]
        await guest.join_room(room)
        await host.chat(room, "boom")
        await host.chat(room, "again")
        # Events and replies still reach the client after the hook raised.
        assert (await guest.wait_for("chat_message", lambda e: e["text"] == "again"))
        assert "rooms" in await guest.list_rooms()
        assert seen.count("chat_message") == 2


async def test_host_reconnects_and_keeps_the_room(server: Server) -> None:
    proxy = Proxy(server.port)
    await proxy.start()
    h, g = uid("h"), uid("g")
    try:
        async with (
            VoiceClient.connect(proxy.url, user=h, name="H") as host,
            VoiceClient.connect(server.url, user=g, name="G") as guest,
        ):
            room = (await host.create_room("Host drop"))["room"]["id"]
            await guest.join_room(room)
            mark = host.mark()
            proxy.cut()
            assert (await host.wait_for("_reconnected", timeout=15, since=mark))["rooms"] == [room]
            # Still the host: moderating works on the new connection.
            await guest.request_mic(room)
            await host.wait_for("mic_requested", lambda e: e["user"] == g, since=mark)
            assert (await host.accept_mic(room, g))["seat"] == 0
            assert (await guest.wait_for("mic_accepted"))["seat"] == 0
    finally:
        await proxy.stop()
