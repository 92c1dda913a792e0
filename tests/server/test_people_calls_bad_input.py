"""Bad input and safety for the people and call verbs, over real websockets (one node):
every new verb in a table of refused requests (wrong types, missing fields, oversize values,
unknown users, calling oneself, another's call id), each answered with a clear code and the
field, and changing nothing; a blocked user sees exactly what a stranger sees; floods of
calls and follows are rate limited like any request."""

from __future__ import annotations

from typing import Any

import pytest

from tests.server.peoplekit import befriend, person
from tests.support.server import WireClient, close_all, running_server

LONG = "x" * 200

# (verb, params, code, field): every one must be refused so.
REFUSED: list[tuple[str, dict[str, Any], str, str | None]] = [
    ("set_profile", {"tags": "music"}, "bad_request", "tags"),
    ("set_profile", {"tags": [f"t{i}" for i in range(11)]}, "bad_request", "tags"),
    ("set_profile", {"tags": ["x" * 25]}, "bad_request", "tags"),
    ("set_profile", {"tags": [""]}, "bad_request", "tags"),
    ("set_profile", {"tags": [5]}, "bad_request", "tags"),
    ("set_profile", {"bio": "b" * 141}, "bad_request", "bio"),
    ("set_profile", {"bio": 7}, "bad_request", "bio"),
    ("set_profile", {"city": "c" * 65}, "bad_request", "city"),
    ("set_profile", {"city": ["Chengdu"]}, "bad_request", "city"),
    ("get_profile", {}, "bad_request", "user"),
    ("get_profile", {"user": 5}, "bad_request", "user"),
    ("get_profile", {"user": "no spaces"}, "bad_request", "user"),
    ("get_profile", {"user": LONG}, "bad_request", "user"),
    ("get_profile", {"user": "ghost"}, "no_such_user", "user"),
    ("follow", {}, "bad_request", "user"),
    ("follow", {"user": ["bob"]}, "bad_request", "user"),
    ("follow", {"user": "ann"}, "bad_request", "user"),
    ("follow", {"user": "ghost"}, "no_such_user", "user"),
    ("unfollow", {"user": None}, "bad_request", "user"),
    ("unfollow", {"user": "ghost"}, "no_such_user", "user"),
    ("block", {"user": True}, "bad_request", "user"),
    ("block", {"user": "ann"}, "bad_request", "user"),
    ("block", {"user": "ghost"}, "no_such_user", "user"),
    ("unblock", {}, "bad_request", "user"),
    ("unblock", {"user": "ghost"}, "no_such_user", "user"),
    ("list_follows", {}, "bad_request", "which"),
    ("list_follows", {"which": "enemies"}, "bad_request", "which"),
    ("list_follows", {"which": "friends", "limit": 0}, "bad_request", "limit"),
    ("list_follows", {"which": "friends", "limit": 101}, "bad_request", "limit"),
    ("list_follows", {"which": "friends", "limit": "5"}, "bad_request", "limit"),
    ("list_follows", {"which": "friends", "cursor": 3}, "bad_request", "cursor"),
    ("list_follows", {"which": "friends", "cursor": "forged"}, "bad_request", "cursor"),
    ("list_follows", {"which": "Blocked"}, "bad_request", "which"),
    ("list_follows", {"which": "blocked", "limit": 101}, "bad_request", "limit"),
    ("list_follows", {"which": "blocked", "cursor": "forged"}, "bad_request", "cursor"),
    ("call", {}, "bad_request", "user"),
    ("call", {"user": "bob", "video": "yes"}, "bad_request", "video"),
    ("call", {"user": "ann"}, "bad_request", "user"),
    ("call", {"user": "ghost"}, "not_friends", None),
    ("answer_call", {}, "bad_request", "call"),
    ("answer_call", {"call": 5}, "bad_request", "call"),
    ("answer_call", {"call": "not/an/id"}, "bad_request", "call"),
    ("answer_call", {"call": "nosuchcall"}, "no_such_call", "call"),
    ("decline_call", {"call": "nosuchcall"}, "no_such_call", "call"),
    ("hangup", {"call": LONG}, "bad_request", "call"),
    ("hangup", {"call": "nosuchcall"}, "no_such_call", "call"),
    ("webrtc_offer", {"call": "nosuchcall"}, "bad_request", "sdp"),
    ("webrtc_offer", {"call": "nosuchcall", "room": "r1", "sdp": "v=0"}, "bad_request",
     "call"),
    ("webrtc_offer", {"call": "nosuchcall", "sdp": "v=0"}, "no_such_call", "call"),
    ("list_members", {}, "bad_request", "room"),
    ("list_members", {"room": "r1", "limit": 201}, "bad_request", "limit"),
    ("hello", {"user": "ann", "app": "Not An App"}, "bad_request", "app"),
    ("hello", {"user": "ann", "verified": "yes"}, "bad_request", "verified"),
    ("hello", {"user": "ann", "city": "c" * 65}, "bad_request", "city"),
]


@pytest.mark.parametrize("binary", [True, False])
async def test_every_refused_request_names_its_code_and_changes_nothing(binary: bool) -> None:
    # Refused requests count against the rate too (issue 12): room for the whole table.
    async with running_server(rate=1000.0, burst=1000) as server:
        ann = await person(server.url, "ann", binary=binary, city="Chengdu")
        bob = await person(server.url, "bob", binary=binary)
        await ann.call("set_profile", tags=["go"], bio="hi")
        before = (await ann.call("get_profile", user="ann"))["profile"]
        for verb, params, code, field in REFUSED:
            reply = await ann.request(verb, **params)
            assert reply["type"] == "error", (verb, params, reply)
            assert (reply["code"], reply.get("field")) == (code, field), (verb, params, reply)
            assert reply["message"]
        # Nothing changed: the profile, the follows, the calls; no event reached anyone.
        assert (await ann.call("get_profile", user="ann"))["profile"] == before
        assert (await ann.call("hello", user="ann"))["app"] == "main"
        for which in ("following", "followers", "friends", "blocked"):
            assert (await ann.call("list_follows", which=which))["users"] == []
        assert (await ann.call("list_calls"))["calls"] == []
        assert bob.drain() == []
        await close_all([ann, bob])


async def test_another_users_call_is_no_call_of_theirs() -> None:
    async with running_server() as server:
        ann, bob = await person(server.url, "ann"), await person(server.url, "bob")
        eve = await person(server.url, "eve")
        await befriend(ann, bob)
        call = (await ann.call("call", user="bob"))["call"]
        for verb in ("answer_call", "decline_call", "hangup"):
            reply = await eve.request(verb, call=call["id"])
            assert (reply["code"], reply["field"]) == ("no_such_call", "call")
        assert (await eve.call("list_calls"))["calls"] == []
        assert [c["state"] for c in (await bob.call("list_calls"))["calls"]] == ["ringing"]
        await close_all([ann, bob, eve])


async def _what_ann_sees(blocked: bool) -> list[dict[str, Any]]:
    """Everything ann gets back (replies and events) from the same verbs aimed at bob, who
    either blocks her (after they had been friends) or has never known her."""
    async with running_server() as server:
        ann = await person(server.url, "ann")
        bob = await person(server.url, "bob", city="Chengdu")
        await bob.call("set_profile", tags=["go"], bio="hello")
        if blocked:
            await befriend(ann, bob)
            await bob.call("block", user="ann")
        ann.drain()
        script: list[tuple[str, dict[str, Any]]] = [
            ("get_profile", {"user": "bob"}),
            ("call", {"user": "bob"}),
            ("call", {"user": "bob", "video": True}),
            ("follow", {"user": "bob"}),
            ("follow", {"user": "bob"}),
            ("list_follows", {"which": "following"}),
            ("list_follows", {"which": "followers"}),
            ("list_follows", {"which": "friends"}),
            ("list_follows", {"which": "blocked"}),
            ("get_profile", {"user": "bob"}),
            ("call", {"user": "bob"}),
            ("list_calls", {}),
            ("unfollow", {"user": "bob"}),
            ("list_follows", {"which": "following"}),
            ("webrtc_offer", {"call": "guess", "sdp": "v=0"}),
            ("block", {"user": "bob"}),
            ("unblock", {"user": "bob"}),
            ("follow", {"user": "bob"}),
            ("list_follows", {"which": "following"}),
        ]
        seen = []
        for verb, params in script:
            reply = await ann.request(verb, **params)
            reply.pop("id", None)
            seen.append({"verb": verb, **reply})
        # A marker event from someone else: whatever ann received before it is in `seen`.
        cat = await person(server.url, "cat")
        await cat.call("follow", user="ann")
        while True:
            message = await ann.next_message()
            if message.get("user") == "cat":
                break
            seen.append(message)
        await close_all([ann, bob, cat])
        return seen


async def test_a_blocked_user_sees_exactly_what_a_stranger_sees() -> None:
    as_blocked = await _what_ann_sees(blocked=True)
    as_stranger = await _what_ann_sees(blocked=False)
    assert as_blocked == as_stranger
    # And it is the stranger's view: refused calls, an unreturned follow.
    codes = [entry.get("code") for entry in as_stranger if entry["verb"] == "call"]
    assert codes == ["not_friends"] * 3


@pytest.mark.parametrize("verb", ["call", "follow"])
async def test_call_and_follow_floods_are_rate_limited(verb: str) -> None:
    async with running_server(rate=5.0, burst=10) as server:
        flooder = await person(server.url, "flooder")
        target = await person(server.url, "target")
        ids = [flooder.next_id() for _ in range(60)]
        for rid in ids:
            await flooder.send({"id": rid, "type": verb, "user": "target"})
        codes = []
        while len(codes) < len(ids):
            message = await flooder.next_message()
            if "id" in message:
                codes.append(message["type"] if message["type"] == "ok" else message["code"])
        assert codes.count("rate_limited") >= 40, codes
        # The target was bothered at most by the requests let through.
        let_through = len(ids) - codes.count("rate_limited")
        assert len([m for m in target.drain() if m["type"] in ("followed", "call_incoming")]) \
            <= let_through
        await close_all([flooder, target])


async def test_a_hello_with_a_bad_token_changes_no_profile() -> None:
    async with running_server(secret="k" * 32) as server:
        client = await WireClient.connect(server.url)
        reply = await client.request("hello", token="not.a.token")
        assert reply["code"] == "not_authenticated"
        assert (await client.request("get_profile", user="ann"))["code"] == "not_authenticated"
        await client.close()
