"""Every room request, event and room error of docs/protocol.md, through the gateway."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from rooms import machine
from tests.support.server import RunningServer, WireClient, close_all, running_server


@pytest.fixture
async def srv() -> AsyncIterator[RunningServer]:
    async with running_server() as server:
        yield server


async def room_with(srv: RunningServer, *users: str, **options: Any
                    ) -> tuple[str, WireClient, list[WireClient]]:
    """A room made by `host`, with `users` joined; the host's inbox is emptied."""
    host = await srv.client("host", name="The Host")
    room = (await host.call("create_room", title="Room", **options))["room"]["id"]
    members = []
    for user in users:
        client = await srv.client(user, name=user.title())
        await client.call("join_room", room=room)
        members.append(client)
    await host.quiet(0.05)
    for client in members:
        client.drain()
    return room, host, members


async def test_create_list_join_leave_close(srv: RunningServer) -> None:
    host = await srv.client("host", name="Host")
    reply = await host.call("create_room", title="Morning show", seats=4, seat_mode="free",
                            auto_chatroom_at=0)
    state = reply["room"]
    room = state["id"]
    assert state["title"] == "Morning show" and state["mode"] == "live"
    assert state["host"] == {"user": "host", "name": "Host", "self_muted": False, "away": False}
    assert len(state["seats"]) == 1 and state["seat_mode"] == "free"
    assert state["audience_count"] == 0 and state["queue"] == []

    second = (await host.call("create_room", title="Second"))["room"]["id"]
    listed = (await host.call("list_rooms"))["rooms"]
    assert [r["id"] for r in listed] == [second, room]  # newest first
    assert listed[1] == {**listed[1], "title": "Morning show", "mode": "live",
                         "audience_count": 0, "seated": 0}
    page = await host.call("list_rooms", limit=1)
    assert [r["id"] for r in page["rooms"]] == [second] and "cursor" in page
    rest = await host.call("list_rooms", limit=1, cursor=page["cursor"])
    assert [r["id"] for r in rest["rooms"]] == [room]

    guest = await srv.client("guest", name="Guest")
    joined = await guest.call("join_room", room=room)
    assert joined["role"] == "audience" and joined["room"]["audience_count"] == 1
    assert "queue" not in joined["room"]  # the queue is for host and admins only
    member = await host.event("member_joined")
    assert member == {"type": "member_joined", "room": room, "user": "guest", "name": "Guest",
                      "role": "audience"}
    assert (await host.event("audience_changed"))["count"] == 1
    # Joining again re-reads the room and changes nothing.
    again = await guest.call("join_room", room=room)
    assert again["room"]["audience_count"] == 1
    assert "member_joined" not in [m["type"] for m in await host.quiet(0.1)]

    assert (await guest.call("leave_room", room=room))["type"] == "ok"
    assert (await host.event("member_left"))["user"] == "guest"
    assert await guest.error("chat", room=room, text="x") == "not_in_room"

    await guest.call("join_room", room=room)
    assert (await host.call("close_room", room=second))["type"] == "ok"
    await host.call("close_room", room=room)
    closed = await guest.event("room_closed")
    assert closed == {"type": "room_closed", "room": room, "reason": "closed"}
    assert await guest.error("join_room", room=room) == "no_such_room"
    assert (await host.call("list_rooms"))["rooms"] == []
    await close_all([host, guest])


async def test_host_leaving_closes_the_room(srv: RunningServer) -> None:
    room, host, (guest,) = await room_with(srv, "guest")
    await host.call("leave_room", room=room)
    assert (await guest.event("room_closed"))["reason"] == "host_left"
    assert room not in srv.gateway.delivery.rooms
    await close_all([host, guest])


async def test_mic_link_queue_accept_reject_cancel(srv: RunningServer) -> None:
    room, host, (ann, bob, cat) = await room_with(srv, "ann", "bob", "cat", auto_chatroom_at=0)
    assert (await ann.call("request_mic", room=room, note="hi!"))["position"] == 1
    requested = await host.event("mic_requested")
    assert requested == {**requested, "user": "ann", "name": "Ann", "position": 1}
    assert (await bob.call("request_mic", room=room))["position"] == 2
    assert (await cat.call("request_mic", room=room))["position"] == 3
    assert await ann.error("request_mic", room=room) == "already_requested"
    # Audience don't see the queue events.
    assert "mic_requested" not in [m["type"] for m in await bob.quiet(0.05)]

    await cat.call("cancel_mic_request", room=room)
    assert (await host.event("mic_request_cancelled"))["user"] == "cat"
    assert await cat.error("cancel_mic_request", room=room) == "no_such_request"

    await host.call("reject_mic", room=room, user="bob")
    assert (await bob.event("mic_rejected")) == {"type": "mic_rejected", "room": room}
    assert await host.error("reject_mic", room=room, user="bob") == "no_such_request"
    assert await host.error("accept_mic", room=room, user="cat") == "no_such_request"

    assert (await host.call("accept_mic", room=room, user="ann"))["seat"] == 0
    assert (await ann.event("mic_accepted"))["seat"] == 0
    for client in (ann, bob, host):
        change = await client.event("seat_changed")
        assert change["seat"]["user"] == "ann" and change["seat"]["index"] == 0
    # The live seat is taken: a new request can't be accepted onto it.
    await bob.call("request_mic", room=room)
    assert await host.error("accept_mic", room=room, user="bob") == "seats_full"
    assert await host.error("accept_mic", room=room, user="bob", seat=0) == "seat_taken"
    assert await host.error("accept_mic", room=room, user="bob", seat=3) == "no_such_seat"
    # Audience may not accept.
    assert await cat.error("accept_mic", room=room, user="bob") == "forbidden"
    assert await ann.error("request_mic", room=room) == "already_seated"
    await close_all([host, ann, bob, cat])


async def test_auto_chatroom_and_mode_changes(srv: RunningServer) -> None:
    room, host, (a, b, c) = await room_with(srv, "a", "b", "c", auto_chatroom_at=2, seats=4)
    await a.call("request_mic", room=room)
    await b.call("request_mic", room=room)
    changed = await c.event("mode_changed")
    assert changed["mode"] == "chatroom" and changed["auto"] is True
    assert len(changed["seats"]) == 4
    assert await host.error("open_chatroom", room=room) == "wrong_mode"
    await host.call("accept_mic", room=room, user="a", seat=2)
    closed = await host.call("close_chatroom", room=room)
    assert closed["room"]["mode"] == "live" and len(closed["room"]["seats"]) == 1
    back = await a.event("mode_changed", mode="live")
    assert back["auto"] is False
    assert all(seat["user"] is None for seat in back["seats"])
    assert await host.error("close_chatroom", room=room) == "wrong_mode"
    opened = await host.call("open_chatroom", room=room)
    assert opened["room"]["mode"] == "chatroom"
    assert (await c.event("mode_changed"))["auto"] is False
    assert await a.error("open_chatroom", room=room) == "forbidden"
    await close_all([host, a, b, c])


async def test_free_seats_switch_leave_and_errors(srv: RunningServer) -> None:
    room, host, (a, b) = await room_with(srv, "a", "b", seat_mode="free", seats=3)
    await host.call("open_chatroom", room=room)
    assert (await a.call("take_seat", room=room, seat=1))["seat"] == 1
    assert await b.error("take_seat", room=room, seat=1) == "seat_taken"
    assert await a.error("take_seat", room=room, seat=1) == "already_seated"
    assert await a.error("take_seat", room=room, seat=2) == "already_seated"
    assert await b.error("take_seat", room=room, seat=5) == "no_such_seat"
    assert await host.error("take_seat", room=room, seat=0) == "forbidden"
    b.drain()
    assert (await a.call("switch_seat", room=room, seat=2))["seat"] == 2
    first, second = await b.event("seat_changed"), await b.event("seat_changed")
    assert (first["seat"]["index"], first["seat"]["user"]) == (1, None)
    assert (second["seat"]["index"], second["seat"]["user"]) == (2, "a")
    assert await b.error("switch_seat", room=room, seat=0) == "not_seated"
    await b.call("take_seat", room=room, seat=0)
    assert await b.error("switch_seat", room=room, seat=2) == "seat_taken"
    await host.call("lock_seat", room=room, seat=1)
    assert await b.error("switch_seat", room=room, seat=1) == "seat_locked"
    await a.call("leave_seat", room=room)
    assert (await host.event("seat_changed", seat={"index": 2, "user": None, "name": None,
                                                   "muted": False, "self_muted": False,
                                                   "locked": False, "away": False}))
    assert await a.error("leave_seat", room=room) == "not_seated"
    # Every seat full or locked: a named taken seat is seat_taken, a free-seat claim seats_full.
    await a.call("take_seat", room=room, seat=2)
    c = await srv.client("c")
    await c.call("join_room", room=room)
    assert await c.error("take_seat", room=room, seat=2) == "seat_taken"
    assert await c.error("take_seat", room=room, seat=1) == "seat_locked"
    await close_all([host, a, b, c])


async def test_apply_mode_take_seat_needs_invite(srv: RunningServer) -> None:
    room, host, (a, b) = await room_with(srv, "a", "b")
    assert await a.error("take_seat", room=room, seat=0) == "forbidden"
    await host.call("invite_to_seat", room=room, user="a", seat=0)
    invited = await a.event("seat_invited")
    assert invited["seat"] == 0 and invited["by"] == "host"
    assert (await a.call("take_seat", room=room, seat=0))["seat"] == 0
    # Invitations: answer yes / no, and the refusals.
    await host.call("open_chatroom", room=room)
    await host.call("invite_to_seat", room=room, user="b")
    assert (await b.event("seat_invited"))["seat"] is None
    assert await host.error("invite_to_seat", room=room, user="a") == "already_seated"
    assert await host.error("invite_to_seat", room=room, user="b", seat=0) == "seat_taken"
    await host.call("lock_seat", room=room, seat=7)
    assert await host.error("invite_to_seat", room=room, user="b", seat=7) == "seat_locked"
    assert await host.error("invite_to_seat", room=room, user="ghost") == "not_in_room"
    assert await host.error("invite_to_seat", room=room, user="host") == "forbidden"
    assert await b.error("invite_to_seat", room=room, user="a") == "forbidden"
    assert await b.call("answer_invite", room=room, accept=False)
    assert await b.error("answer_invite", room=room, accept=True) == "no_such_request"
    await host.call("invite_to_seat", room=room, user="b", seat=3)
    assert (await b.call("answer_invite", room=room, accept=True))["seat"] == 3
    await close_all([host, a, b])


async def test_seat_moderation_mute_lock_kick(srv: RunningServer) -> None:
    room, host, (a, b) = await room_with(srv, "a", "b", seat_mode="free")
    await host.call("open_chatroom", room=room)
    await a.call("take_seat", room=room, seat=0)
    b.drain()
    await host.call("mute_seat", room=room, seat=0)
    assert (await b.event("seat_changed"))["seat"]["muted"] is True
    await host.call("unmute_seat", room=room, seat=0)
    assert (await b.event("seat_changed"))["seat"]["muted"] is False
    await a.call("mute", room=room)
    assert (await b.event("seat_changed"))["seat"]["self_muted"] is True
    await a.call("unmute", room=room)
    assert (await b.event("seat_changed"))["seat"]["self_muted"] is False
    assert await b.error("mute", room=room) == "not_seated"
    # The host's own switch travels in room_state, rendered for each recipient.
    await host.call("mute", room=room)
    state = await b.event("room_state")
    assert state["state"]["host"]["self_muted"] is True and "queue" not in state["state"]
    host_state = await host.event("room_state")
    assert "queue" in host_state["state"]
    await host.call("unmute", room=room)
    assert (await b.event("room_state"))["state"]["host"]["self_muted"] is False

    await host.call("lock_seat", room=room, seat=0)  # occupied: freed first
    locked = await b.event("seat_changed")
    assert locked["seat"]["locked"] is True and locked["seat"]["user"] is None
    assert await a.error("take_seat", room=room, seat=0) == "seat_locked"
    await host.call("unlock_seat", room=room, seat=0)
    await a.call("take_seat", room=room, seat=0)
    await host.call("kick_seat", room=room, seat=0)
    assert await host.error("kick_seat", room=room, seat=0) == "not_seated"
    assert await host.error("kick_seat", room=room, seat=8) == "bad_request"
    assert await a.error("kick_seat", room=room, seat=1) == "forbidden"
    assert await a.error("mute_seat", room=room, seat=1) == "forbidden"
    assert await a.error("lock_seat", room=room, seat=1) == "forbidden"
    await close_all([host, a, b])


async def test_admins_kick_ban_and_chat(srv: RunningServer) -> None:
    room, host, (a, b, c) = await room_with(srv, "a", "b", "c")
    await host.call("set_admin", room=room, user="a", admin=True)
    for client in (a, b, host):
        assert (await client.event("role_changed")) == {"type": "role_changed", "room": room,
                                                        "user": "a", "role": "admin"}
    assert await a.error("set_admin", room=room, user="b", admin=True) == "forbidden"
    assert await host.error("set_admin", room=room, user="ghost", admin=True) == "not_in_room"
    # An admin sees the queue and moderates.
    await b.call("request_mic", room=room)
    assert (await a.event("mic_requested"))["user"] == "b"
    assert (await a.call("accept_mic", room=room, user="b"))["seat"] == 0

    await a.call("kick_member", room=room, user="c")
    assert (await c.event("kicked"))["reason"] == "kicked"
    assert (await host.event("member_left"))["user"] == "c"
    # A kicked member is no longer subscribed: the room's chat doesn't reach them.
    await host.call("chat", room=room, text="after the kick")
    assert (await b.event("chat_message")) == {"type": "chat_message", "room": room,
                                               "user": "host", "name": "The Host",
                                               "text": "after the kick"}
    assert "chat_message" not in [m["type"] for m in await c.quiet(0.1)]
    await c.call("join_room", room=room)  # kicked without ban may come back

    await host.call("kick_member", room=room, user="c", ban=True)
    assert (await c.event("kicked"))["reason"] == "banned"
    assert await c.error("join_room", room=room) == "banned"
    assert await c.error("chat", room=room, text="let me in") == "banned"
    assert await host.error("kick_member", room=room, user="host") == "forbidden"
    assert await b.error("kick_member", room=room, user="a") == "forbidden"
    assert await host.error("kick_member", room=room, user="nobody") == "not_in_room"

    await host.call("set_admin", room=room, user="a", admin=False)
    assert (await b.event("role_changed"))["role"] == "audience"
    await close_all([host, a, b, c])


async def test_room_errors_for_strangers(srv: RunningServer) -> None:
    room, host, _ = await room_with(srv)
    stranger = await srv.client("stranger")
    assert await stranger.error("join_room", room="no-such") == "no_such_room"
    for kind, params in (("leave_room", {}), ("request_mic", {}), ("chat", {"text": "x"}),
                         ("take_seat", {"seat": 0}), ("mute", {}),
                         ("webrtc_offer", {"sdp": "v=0"}), ("close_room", {})):
        assert await stranger.error(kind, room=room, **params) == "not_in_room", kind
    # no_such_room comes before not_in_room.
    assert await stranger.error("chat", room="gone", text="x") == "no_such_room"
    assert await host.error("request_mic", room=room) == "forbidden"
    await close_all([host, stranger])


async def test_one_seat_per_user_across_rooms(srv: RunningServer) -> None:
    room1, host1, (a,) = await room_with(srv, "a", seat_mode="free")
    other = await srv.client("host2")
    room2 = (await other.call("create_room", title="two", seat_mode="free"))["room"]["id"]
    await a.call("join_room", room=room2)
    await a.call("take_seat", room=room1, seat=0)
    assert await a.error("take_seat", room=room2, seat=0) == "already_seated"
    await close_all([host1, a, other])


async def test_room_full(srv: RunningServer, monkeypatch: pytest.MonkeyPatch) -> None:
    # The member bound is 10,000; shrink it so the refusal is reachable here.
    monkeypatch.setattr(machine, "MAX_MEMBERS", 2)
    room, host, (a,) = await room_with(srv, "a")
    b = await srv.client("b")
    assert await b.error("join_room", room=room) == "room_full"
    await close_all([host, a, b])


async def test_speaking_levels_reach_the_room(srv: RunningServer) -> None:
    room, host, (a,) = await room_with(srv, "a")
    outsider = await srv.client("outsider")
    srv.gateway.delivery.levels(room, {"host": 0.5})
    for client in (host, a):
        assert (await client.event("speaking")) == {"type": "speaking", "room": room,
                                                    "levels": {"host": 0.5}}
    assert await outsider.quiet(0.05) == []
    await close_all([host, a, outsider])
