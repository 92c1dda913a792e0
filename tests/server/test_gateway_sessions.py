"""Connections coming and going: replaced sockets, reconnection grace, throttled counts."""

from __future__ import annotations

import asyncio
import itertools

from tests.support.server import close_all, running_server

GRACE = 0.4
HOST_GRACE = 0.6


async def test_newest_connection_wins_older_gets_replaced_and_4000() -> None:
    async with running_server() as srv:
        host = await srv.client("host")
        room = (await host.call("create_room", title="r", seat_mode="free"))["room"]["id"]
        old = await srv.client("ann")
        await old.call("join_room", room=room)
        await old.call("take_seat", room=room, seat=0)
        idle = await srv.client("ann")  # same user, never joined: not replaced
        new = await srv.client("ann")
        host.drain()
        joined = await new.call("join_room", room=room)
        assert joined["room"]["seats"][0]["user"] == "ann"
        replaced = await old.event("replaced")
        assert replaced == {"type": "replaced", "room": room}
        assert await old.closed() == 4000
        # The replaced socket closing is no disconnect: the seat is not marked away.
        await host.call("chat", room=room, text="ping")
        await new.event("chat_message")
        assert [m for m in await host.quiet(2 * GRACE) if m["type"] == "seat_changed"] == []
        # Events reach the new connection; the idle one stays open and hears nothing.
        await host.call("mute_seat", room=room, seat=0)
        assert (await new.event("seat_changed"))["seat"]["muted"] is True
        assert idle.close_code is None and await idle.quiet(0.05) == []
        assert (await idle.call("list_rooms"))["rooms"][0]["id"] == room
        await close_all([host, new, idle])


async def test_seat_held_away_then_taken_back_then_freed_after_grace() -> None:
    async with running_server(grace=GRACE, host_grace=30) as srv:
        host = await srv.client("host")
        room = (await host.call("create_room", title="r", seat_mode="free"))["room"]["id"]
        guest = await srv.client("guest")
        await guest.call("join_room", room=room)
        await guest.call("take_seat", room=room, seat=0)
        await host.event("seat_changed")
        await guest.close()
        away = await host.event("seat_changed")
        assert away["seat"]["user"] == "guest" and away["seat"]["away"] is True

        # Back within the grace: the seat is theirs again.
        guest = await srv.client("guest")
        joined = await guest.call("join_room", room=room)
        assert joined["room"]["seats"][0]["user"] == "guest"
        back = await host.event("seat_changed")
        assert back["seat"]["user"] == "guest" and back["seat"]["away"] is False
        assert [m for m in await host.quiet(2 * GRACE) if m["type"] == "seat_changed"] == []

        # Gone for longer than the grace: the seat is freed and they leave the room.
        await guest.close()
        assert (await host.event("seat_changed"))["seat"]["away"] is True
        freed = await host.event("seat_changed", timeout=5 + GRACE)
        assert freed["seat"]["user"] is None and freed["seat"]["away"] is False
        assert (await host.event("member_left"))["user"] == "guest"
        listed = (await host.call("list_rooms"))["rooms"][0]
        assert listed["audience_count"] == 0 and listed["seated"] == 0
        await host.close()


async def test_user_with_another_connection_in_the_room_is_not_away() -> None:
    async with running_server(grace=GRACE) as srv:
        host = await srv.client("host")
        room = (await host.call("create_room", title="r", seat_mode="free"))["room"]["id"]
        guest = await srv.client("guest")
        await guest.call("join_room", room=room)
        await guest.call("take_seat", room=room, seat=0)
        await host.event("seat_changed")
        # A second connection of the guest that did not join the room: closing it is nothing.
        other = await srv.client("guest")
        await other.close()
        assert [m for m in await host.quiet(0.3) if m["type"] == "seat_changed"] == []
        await close_all([host, guest])


async def test_host_away_then_room_closes_after_host_grace() -> None:
    async with running_server(grace=GRACE, host_grace=HOST_GRACE) as srv:
        host = await srv.client("host")
        room = (await host.call("create_room", title="r"))["room"]["id"]
        guest = await srv.client("guest")
        await guest.call("join_room", room=room)
        await host.close()
        state = await guest.event("room_state")
        assert state["state"]["host"]["away"] is True
        # The host comes back in time: the room goes on.
        host = await srv.client("host")
        await host.call("join_room", room=room)
        assert (await guest.event("room_state"))["state"]["host"]["away"] is False
        await host.close()
        await guest.event("room_state")
        closed = await guest.event("room_closed", timeout=5 + HOST_GRACE)
        assert closed["reason"] == "host_left"
        assert await guest.error("join_room", room=room) == "no_such_room"
        assert room not in srv.gateway.delivery.rooms
        await guest.close()


async def test_audience_changed_is_coalesced_to_once_a_second() -> None:
    async with running_server() as srv:
        host = await srv.client("host")
        room = (await host.call("create_room", title="r"))["room"]["id"]
        guests = await asyncio.gather(*(srv.client(f"g{i}") for i in range(10)))
        for guest in guests:
            await guest.call("join_room", room=room)
        await host.event("audience_changed", count=10, timeout=5)
        assert [m for m in await host.quiet(1.2) if m["type"] == "audience_changed"] == []
        seen = [r for r in host.log if r.message["type"] == "audience_changed"]
        counts = [r.message["count"] for r in seen]
        # Ten joins, far fewer counts: the ones in between were replaced by the latest.
        assert counts[0] == 1 and counts[-1] == 10 and counts == sorted(counts)
        assert len(counts) < 10
        # At most once a second (a little slack for the timer and the socket).
        gaps = [later.at - earlier.at for earlier, later in itertools.pairwise(seen)]
        assert all(gap > 0.8 for gap in gaps), gaps
        # Every guest is throttled on its own: the last one to join got a count at once.
        assert (await guests[-1].event("audience_changed"))["count"] == 10
        await close_all([host, *guests])


async def test_connection_in_two_rooms_drops_from_both() -> None:
    async with running_server(grace=30) as srv:
        h1 = await srv.client("h1")
        h2 = await srv.client("h2")
        r1 = (await h1.call("create_room", title="1", seat_mode="free"))["room"]["id"]
        r2 = (await h2.call("create_room", title="2"))["room"]["id"]
        guest = await srv.client("guest")
        await guest.call("join_room", room=r1)
        await guest.call("join_room", room=r2)
        await guest.call("take_seat", room=r1, seat=0)
        await guest.close()
        assert (await h1.event("seat_changed", timeout=3))["seat"]["away"] is False
        assert (await h1.event("seat_changed", timeout=3))["seat"]["away"] is True
        await asyncio.sleep(0.05)
        room2 = await srv.service.get_room(r2)
        assert room2.members["guest"].away_until is not None
        await close_all([h1, h2])
