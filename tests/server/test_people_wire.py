"""Identity, profiles, follows and blocks over real websockets, one node (MemoryStore):
docs/protocol.md "Identity, apps and profiles", "Follows, friends and blocks"."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from protocol.tokens import issue_token
from tests.server.peoplekit import befriend, person
from tests.support.redis import fresh_redis_url
from tests.support.server import RunningServer, WireClient, close_all, running_server

SECRET = "s" * 32


async def test_hello_takes_app_verified_and_city_in_development_mode() -> None:
    async with running_server() as server:
        ann = await WireClient.connect(server.url)
        reply = await ann.call("hello", user="ann", name="Ann", app="douyin", verified=True,
                               city="Chengdu")
        assert (reply["user"], reply["name"], reply["app"], reply["verified"]) == \
            ("ann", "Ann", "douyin", True)
        plain = await server.client("bob")
        assert plain.log[-1].message["app"] == "main"
        assert plain.log[-1].message["verified"] is False
        profile = (await plain.call("get_profile", user="ann"))["profile"]
        assert profile == {"user": "ann", "name": "Ann", "city": "Chengdu", "tags": [],
                           "verified": True, "bio": ""}
        assert (await ann.request("get_profile", user="nobody"))["code"] == "no_such_user"
        await close_all([ann, plain])


async def test_the_token_names_app_verified_and_city_and_its_city_wins() -> None:
    async with running_server(secret=SECRET) as server:
        token = issue_token(SECRET, "ann", "Ann", 60, time.time(), app="duoshan",
                            verified=True, city="Xi'an")
        ann = await WireClient.connect(server.url)
        # Development fields beside a token are ignored: the token says who this is.
        reply = await ann.call("hello", token=token, app="douyin", verified=False, city="X")
        assert (reply["app"], reply["verified"]) == ("duoshan", True)
        profile = (await ann.call("set_profile", city="Beijing", tags=["go", "jazz"],
                                  bio="hello"))["profile"]
        assert (profile["city"], profile["tags"], profile["bio"]) == \
            ("Xi'an", ["go", "jazz"], "hello")
        plain = await WireClient.connect(server.url)
        reply = await plain.call("hello", token=issue_token(SECRET, "bob", "Bob", 60,
                                                            time.time()))
        assert (reply["app"], reply["verified"]) == ("main", False)
        # Without a token city, set_profile's city stands; "" clears it.
        assert (await plain.call("set_profile", city="Beijing"))["profile"]["city"] == "Beijing"
        assert (await plain.call("set_profile", city=""))["profile"]["city"] is None
        await close_all([ann, plain])


async def test_set_profile_edits_only_what_it_names_and_a_new_hello_keeps_it() -> None:
    async with running_server() as server:
        ann = await person(server.url, "ann", city="Chengdu")
        await ann.call("set_profile", tags=["music", "go"], bio="line one\nline two")
        profile = (await ann.call("set_profile", tags=["music"]))["profile"]
        assert (profile["tags"], profile["bio"], profile["city"]) == \
            (["music"], "line one\nline two", "Chengdu")
        await ann.close()
        # Known for good: a later hello (no city) changes name and verification only.
        again = await person(server.url, "ann", name="Annie", verified=True)
        profile = (await again.call("get_profile", user="ann"))["profile"]
        assert (profile["name"], profile["verified"], profile["tags"], profile["city"]) == \
            ("Annie", True, ["music"], "Chengdu")
        await again.close()


async def test_follow_notifies_the_followed_users_connections_of_that_app_only() -> None:
    async with running_server() as server:
        ann = await person(server.url, "ann", "douyin")
        bob_douyin = await person(server.url, "bob", "douyin")
        bob_duoshan = await person(server.url, "bob", "duoshan")
        cat = await person(server.url, "cat", "duoshan")

        assert (await ann.call("follow", user="bob"))["mutual"] is False
        event = await bob_douyin.event("followed")
        assert event == {"type": "followed", "user": "ann", "name": "ann", "mutual": False}
        # Following again changes nothing and tells nobody; bob's duoshan connection got
        # nothing: the next thing each receives is cat's follow (a later event).
        assert (await ann.call("follow", user="bob"))["mutual"] is False
        await cat.call("follow", user="bob")
        assert (await bob_duoshan.next_message())["user"] == "cat"
        # Following back: mutual, and ann hears it.
        assert (await bob_douyin.call("follow", user="ann"))["mutual"] is True
        assert (await ann.event("followed")) == {"type": "followed", "user": "bob",
                                                 "name": "bob", "mutual": True}
        # Each app has its own graph.
        friends = (await ann.call("list_follows", which="friends"))["users"]
        assert friends == [{"user": "bob", "name": "bob", "mutual": True, "online": True}]
        assert (await bob_duoshan.call("list_follows", which="followers"))["users"] == [
            {"user": "cat", "name": "cat", "mutual": False}]
        assert (await bob_duoshan.call("list_follows", which="friends"))["users"] == []
        await close_all([ann, bob_douyin, bob_duoshan, cat])


async def test_follow_errors() -> None:
    async with running_server() as server:
        ann = await person(server.url, "ann")
        assert (await ann.request("follow", user="ann"))["code"] == "bad_request"
        assert (await ann.request("follow", user="ghost"))["code"] == "no_such_user"
        assert (await ann.request("unfollow", user="ghost"))["code"] == "no_such_user"
        assert (await ann.request("block", user="ghost"))["code"] == "no_such_user"
        assert (await ann.request("block", user="ann"))["code"] == "bad_request"
        await ann.close()


async def test_list_follows_pages_and_shows_online_for_friends_only() -> None:
    async with running_server() as server:
        star = await person(server.url, "star")
        fans = [await person(server.url, f"fan{i}") for i in range(7)]
        for fan in fans:
            await fan.call("follow", user="star")
        for fan in fans[:3]:
            await star.call("follow", user=fan.user)
        await fans[1].close()  # a friend who is offline

        seen: list[dict[str, object]] = []
        cursor = None
        while True:
            params = {"which": "followers", "limit": 3}
            if cursor is not None:
                params["cursor"] = cursor
            reply = await star.call("list_follows", **params)
            assert len(reply["users"]) <= 3
            seen += reply["users"]
            cursor = reply.get("cursor")
            if cursor is None:
                break
        assert [u["user"] for u in seen] == [f"fan{i}" for i in range(7)]
        assert [u.get("online") for u in seen] == [True, False, True] + [None] * 4
        assert [u["mutual"] for u in seen] == [True] * 3 + [False] * 4
        friends = (await star.call("list_follows", which="friends"))["users"]
        assert [f["user"] for f in friends] == ["fan0", "fan1", "fan2"]
        following = (await star.call("list_follows", which="following", limit=1))
        assert following["users"][0]["user"] == "fan0" and "cursor" in following
        assert (await star.request("list_follows", which="friends", cursor="bogus"))["code"] \
            == "bad_request"
        # get_profile adds `online` for a friend only.
        assert (await star.call("get_profile", user="fan0"))["profile"]["online"] is True
        assert (await star.call("get_profile", user="fan1"))["profile"]["online"] is False
        assert "online" not in (await star.call("get_profile", user="fan5"))["profile"]
        await close_all([star, *fans])


async def test_block_removes_every_follow_and_refuses_new_ones_silently() -> None:
    async with running_server() as server:
        ann_douyin = await person(server.url, "ann", "douyin")
        ann_duoshan = await person(server.url, "ann", "duoshan")
        bob_douyin = await person(server.url, "bob", "douyin")
        bob_duoshan = await person(server.url, "bob", "duoshan")
        await befriend(ann_douyin, bob_douyin)
        await befriend(ann_duoshan, bob_duoshan)
        for client in (ann_douyin, ann_duoshan, bob_douyin, bob_duoshan):
            client.drain()  # the befriending's `followed` (each came before a reply)

        await bob_douyin.call("block", user="ann")
        for client in (ann_douyin, ann_duoshan, bob_douyin, bob_duoshan):
            for which in ("following", "followers", "friends"):
                assert (await client.call("list_follows", which=which))["users"] == []
        # The blocker knows they block; the blocked user is answered as by a stranger.
        assert (await bob_douyin.request("follow", user="ann"))["code"] == "forbidden"
        assert (await ann_douyin.call("follow", user="bob"))["mutual"] is False
        assert [u["user"] for u in (await ann_douyin.call(
            "list_follows", which="following"))["users"]] == ["bob"]
        assert (await bob_douyin.call("list_follows", which="followers"))["users"] == []
        # No `followed` reached bob: the next thing his connection receives is cat's.
        cat = await person(server.url, "cat", "douyin")
        await cat.call("follow", user="bob")
        assert (await bob_douyin.next_message())["user"] == "cat"
        # Unblocked, ann's follow counts; following back makes them friends again.
        await bob_douyin.call("unblock", user="ann")
        assert [u["user"] for u in (await bob_douyin.call(
            "list_follows", which="followers"))["users"]] == ["ann", "cat"]
        assert (await bob_douyin.call("follow", user="ann"))["mutual"] is True
        await close_all([ann_douyin, ann_duoshan, bob_douyin, bob_duoshan, cat])


@contextlib.asynccontextmanager
async def two_servers(kind: str) -> AsyncIterator[tuple[RunningServer, RunningServer]]:
    """One node twice (memory), or two nodes on one Redis."""
    if kind == "memory":
        async with running_server() as server:
            yield server, server
        return
    url = fresh_redis_url()
    async with running_server(redis=url, node_id="people-a") as a, \
            running_server(redis=url, node_id="people-b") as b:
        yield a, b


async def blocked_list(client: WireClient, limit: int) -> list[dict[str, Any]]:
    users: list[dict[str, Any]] = []
    params: dict[str, Any] = {"which": "blocked", "limit": limit}
    while True:
        reply = await client.call("list_follows", **params)
        assert len(reply["users"]) <= limit
        users += reply["users"]
        if "cursor" not in reply:
            return users
        params["cursor"] = reply["cursor"]


@pytest.mark.parametrize("kind", ["memory", "redis"])
async def test_list_follows_blocked_pages_the_blockers_own_blocks(kind: str) -> None:
    async with two_servers(kind) as (here, there):
        ann = await person(here.url, "ann", "douyin")
        others = [await person(there.url, f"u{i}", name=f"User {i}") for i in range(5)]
        await befriend(ann, await person(here.url, "u0", "douyin", name="User 0"))
        for other in reversed(others):
            await ann.call("block", user=other.user)
        # JSON text frames, another app, another node: the same list of ann's blocks.
        ann_text = await person(there.url, "ann", "duoshan", binary=False)
        expected = [{"user": f"u{i}", "name": f"User {i}", "mutual": False} for i in range(5)]
        for client in (ann, ann_text):
            assert await blocked_list(client, limit=2) == expected
        assert (await ann.call("list_follows", which="friends"))["users"] == []

        await ann_text.call("unblock", user="u2")
        assert [u["user"] for u in await blocked_list(ann, limit=100)] == \
            ["u0", "u1", "u3", "u4"]
        # A blocked user's own list names nobody: they are never told.
        reply = await others[0].call("list_follows", which="blocked")
        assert reply["users"] == [] and "cursor" not in reply
        for bad in ({"cursor": "forged"}, {"limit": 101}, {"limit": 0}):
            reply = await ann.request("list_follows", which="blocked", **bad)
            assert (reply["code"], reply["field"]) == ("bad_request", next(iter(bad)))
        await close_all([ann, ann_text, *others])


async def test_list_members_orders_host_admins_seated_audience_and_pages() -> None:
    async with running_server() as server:
        host = await server.client("host")
        room = (await host.call("create_room", title="Members", seat_mode="free",
                                auto_chatroom_at=0))["room"]["id"]
        await host.call("open_chatroom", room=room)
        users = ["u1", "u2", "u3", "u4", "u5", "u6"]
        clients = [await server.client(u) for u in users]
        for client in clients:
            await client.call("join_room", room=room)
        await host.call("set_admin", room=room, user="u5", admin=True)
        await clients[3].call("take_seat", room=room, seat=6)  # u4
        await clients[1].call("take_seat", room=room, seat=2)  # u2
        listing = (await clients[0].call("list_members", room=room))["members"]
        assert [(m["user"], m["role"], m["seat"]) for m in listing] == [
            ("host", "host", None), ("u5", "admin", None), ("u2", "audience", 2),
            ("u4", "audience", 6), ("u1", "audience", None), ("u3", "audience", None),
            ("u6", "audience", None)]
        assert all(m["away"] is False for m in listing)
        paged, cursor = [], None
        while True:
            params = {"room": room, "limit": 2, **({"cursor": cursor} if cursor else {})}
            reply = await host.call("list_members", **params)
            paged += reply["members"]
            cursor = reply.get("cursor")
            if cursor is None:
                break
        assert paged == listing
        outsider = await server.client("outsider")
        assert (await outsider.request("list_members", room=room))["code"] == "not_in_room"
        assert (await outsider.request("list_members", room="nope"))["code"] == "no_such_room"
        assert (await host.request("list_members", room=room, limit=201))["code"] == \
            "bad_request"
        assert (await host.request("list_members", room=room, cursor="x"))["code"] == \
            "bad_request"
        await close_all([host, outsider, *clients])
