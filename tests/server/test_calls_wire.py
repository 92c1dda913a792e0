"""Calls over real websockets, one node (MemoryStore): docs/protocol.md "Calls (one to one)"
- ringing on every connection, answered elsewhere, declined, cancelled, hung up, call-back,
busy, already in a call, ring timeout, a dropped party's grace, the app policy."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from calls.policy import AppPolicy
from tests.server.peoplekit import befriend, person
from tests.support.server import WireClient, close_all, running_server

EXAMPLE_POLICY = AppPolicy.from_json(
    (Path(__file__).resolve().parents[2] / "docs" / "apps.example.json").read_text())


async def friends(url: str, *users: str, app: str = "main") -> list[WireClient]:
    """Connected clients, every two of them friends in `app`."""
    clients = [await person(url, user, app) for user in users]
    for i, a in enumerate(clients):
        for b in clients[i + 1:]:
            await befriend(a, b)
    for client in clients:
        client.drain()
    return clients


async def test_a_call_rings_every_connection_and_is_answered_on_one() -> None:
    async with running_server() as server:
        ann, bob = await friends(server.url, "ann", "bob")
        bob2 = await person(server.url, "bob")

        call = (await ann.call("call", user="bob", video=True))["call"]
        assert (call["state"], call["video"], call["kind"], call["started_at"],
                call["reason"]) == ("ringing", True, "friend", None, None)
        assert call["caller"] == {"user": "ann", "name": "ann", "app": "main", "away": False}
        assert call["callee"] == {"user": "bob", "name": "bob", "away": False}
        for conn in (bob, bob2):
            incoming = await conn.event("call_incoming")
            assert incoming["call"] == call
        assert [c["id"] for c in (await bob.call("list_calls"))["calls"]] == [call["id"]]

        answered = (await bob2.call("answer_call", call=call["id"]))["call"]
        assert answered["state"] == "active" and answered["started_at"] is not None
        assert (await ann.event("call_state"))["call"] == answered
        elsewhere = await bob.event("call_ended")
        assert elsewhere["reason"] == "answered_elsewhere"
        assert elsewhere["call"]["id"] == call["id"]

        await bob2.call("hangup", call=call["id"])
        ended = await ann.event("call_ended")
        assert (ended["reason"], ended["call"]["state"], ended["call"]["reason"]) == \
            ("hangup", "ended", "hangup")
        # bob's other device hears of it too (it might have been the one in the call).
        assert (await bob.event("call_ended", reason="hangup"))["call"]["id"] == call["id"]
        for conn in (ann, bob):
            assert (await conn.call("list_calls"))["calls"] == []
        # An ended call is gone for its parties too.
        assert (await ann.request("hangup", call=call["id"]))["code"] == "no_such_call"
        await close_all([ann, bob, bob2])


async def test_decline_cancel_and_a_callees_hangup_while_ringing() -> None:
    async with running_server() as server:
        ann, bob = await friends(server.url, "ann", "bob")
        bob2 = await person(server.url, "bob")

        call = (await ann.call("call", user="bob"))["call"]
        await bob.event("call_incoming")
        await bob2.event("call_incoming")
        declined = await bob.call("decline_call", call=call["id"])
        assert set(declined) == {"id", "type"}  # `{}`
        assert (await ann.event("call_ended"))["reason"] == "declined"
        assert (await bob2.event("call_ended"))["reason"] == "declined"

        call = (await ann.call("call", user="bob"))["call"]
        await bob.event("call_incoming")
        await ann.call("hangup", call=call["id"])
        for conn in (bob, bob2):
            ended = await conn.event("call_ended", reason="cancelled")
            assert ended["call"]["id"] == call["id"]

        call = (await ann.call("call", user="bob"))["call"]
        await bob.call("hangup", call=call["id"])  # a callee's hangup while ringing declines
        assert (await ann.event("call_ended"))["reason"] == "declined"
        await close_all([ann, bob, bob2])


async def test_call_errors_in_the_protocols_order() -> None:
    async with running_server() as server:
        ann, bob, cat = await friends(server.url, "ann", "bob", "cat")
        stranger = await person(server.url, "stranger")
        assert (await ann.request("call", user="ann"))["code"] == "bad_request"
        assert (await ann.request("call", user="stranger"))["code"] == "not_friends"
        assert (await ann.request("call", user="ghost"))["code"] == "not_friends"
        assert (await ann.request("call", user=5))["code"] == "bad_request"
        assert (await ann.request("call", user="bob", video="yes"))["code"] == "bad_request"
        await cat.close()
        assert (await ann.request("call", user="cat"))["code"] == "user_offline"

        call = (await ann.call("call", user="bob"))["call"]
        # Ringing out: no second call.
        assert (await ann.request("call", user="bob"))["code"] == "already_in_call"
        # Someone else's call id is no call of theirs; nor is a made-up one.
        for request in ("answer_call", "decline_call", "hangup"):
            assert (await stranger.request(request, call=call["id"]))["code"] == "no_such_call"
            assert (await bob.request(request, call="nope"))["code"] == "no_such_call"
        # Only the callee answers.
        assert (await ann.request("answer_call", call=call["id"]))["code"] == "forbidden"
        await bob.call("answer_call", call=call["id"])
        assert (await bob.request("answer_call", call=call["id"]))["code"] == "already_in_call"
        # In an active call: busy for others calling them, already_in_call for their calls.
        dan = (await friends(server.url, "dan"))[0]
        await befriend(dan, bob)
        assert (await dan.request("call", user="bob"))["code"] == "busy"
        assert (await bob.request("call", user="dan"))["code"] == "already_in_call"
        await close_all([ann, bob, stranger, dan])


async def test_calling_back_a_ringing_caller_answers_that_call() -> None:
    async with running_server() as server:
        ann, bob = await friends(server.url, "ann", "bob")
        call = (await ann.call("call", user="bob"))["call"]
        await bob.event("call_incoming")
        back = (await bob.call("call", user="ann", video=True))["call"]
        assert back["id"] == call["id"] and back["state"] == "active"
        assert (await ann.event("call_state"))["call"]["state"] == "active"
        assert [c["id"] for c in (await ann.call("list_calls"))["calls"]] == [call["id"]]
        await close_all([ann, bob])


async def test_a_ringing_call_ends_after_the_ring_timeout() -> None:
    async with running_server(ring_timeout=0.3) as server:
        ann, bob = await friends(server.url, "ann", "bob")
        call = (await ann.call("call", user="bob"))["call"]
        for conn in (ann, bob):
            ended = await conn.event("call_ended")
            assert (ended["reason"], ended["call"]["id"]) == ("no_answer", call["id"])
        assert (await bob.request("answer_call", call=call["id"]))["code"] == "no_such_call"
        await close_all([ann, bob])


async def test_a_dropped_party_is_held_for_the_grace_then_the_call_ends() -> None:
    async with running_server(grace=0.4) as server:
        ann, bob = await friends(server.url, "ann", "bob")
        call = (await ann.call("call", user="bob"))["call"]
        await bob.call("answer_call", call=call["id"])
        await ann.event("call_state")
        await bob.close()
        away = await ann.event("call_state")
        assert away["call"]["callee"]["away"] is True and away["call"]["state"] == "active"
        ended = await ann.event("call_ended")
        assert ended["reason"] == "connection_lost"
        assert (await ann.call("list_calls"))["calls"] == []
        # Free again: ann may call someone else.
        cat = (await friends(server.url, "cat"))[0]
        await befriend(ann, cat)
        assert (await ann.call("call", user="cat"))["call"]["state"] == "ringing"
        await close_all([ann, cat])


async def test_a_party_back_within_the_grace_is_not_away_any_more() -> None:
    async with running_server(grace=30) as server:
        ann, bob = await friends(server.url, "ann", "bob")
        bob_phone = await person(server.url, "bob")
        call = (await ann.call("call", user="bob"))["call"]
        await bob.call("answer_call", call=call["id"])
        await ann.event("call_state")
        # One of bob's connections going is no drop: he has another.
        await bob.close()
        await bob_phone.close()
        assert (await ann.event("call_state"))["call"]["callee"]["away"] is True
        back = await person(server.url, "bob")
        state = await ann.event("call_state")
        assert state["call"]["callee"]["away"] is False
        listed = (await back.call("list_calls"))["calls"]
        assert [(c["id"], c["state"], c["callee"]["away"]) for c in listed] == \
            [(call["id"], "active", False)]
        await back.call("hangup", call=call["id"])
        assert (await ann.event("call_ended"))["reason"] == "hangup"
        await close_all([ann, back])


async def test_the_seeds_two_app_policy(tmp_path: Path) -> None:
    """A Duoshan friend's call rings in Douyin too; Douyin calls back only after a mutual
    follow in Douyin (docs/apps.example.json)."""
    async with running_server(apps=EXAMPLE_POLICY) as server:
        ann = await person(server.url, "ann", "duoshan")
        bob_duoshan = await person(server.url, "bob", "duoshan")
        bob_douyin = await person(server.url, "bob", "douyin")
        await befriend(ann, bob_duoshan)

        call = (await ann.call("call", user="bob"))["call"]
        assert call["caller"]["app"] == "duoshan"
        await bob_duoshan.event("call_incoming")
        await bob_douyin.event("call_incoming")
        answered = (await bob_douyin.call("answer_call", call=call["id"]))["call"]
        assert answered["state"] == "active"
        assert (await bob_duoshan.event("call_ended"))["reason"] == "answered_elsewhere"
        await ann.call("hangup", call=call["id"])

        # Douyin's calls need friends in Douyin: one-way until they follow each other there.
        ann_douyin = await person(server.url, "ann", "douyin")
        assert (await bob_douyin.request("call", user="ann"))["code"] == "not_friends"
        await befriend(bob_douyin, ann_douyin)
        back = (await bob_douyin.call("call", user="ann"))["call"]
        # A Douyin call rings in Douyin only: ann's Duoshan connection does not ring.
        await ann_douyin.event("call_incoming")
        # An app the policy does not name may not call at all.
        other = await person(server.url, "zed", "other")
        assert (await other.request("call", user="ann"))["code"] == "forbidden"
        # Answering from an app the call does not ring in is refused.
        assert (await ann.request("answer_call", call=back["id"]))["code"] == "forbidden"
        await close_all([ann, ann_douyin, bob_duoshan, bob_douyin, other])


async def test_webrtc_offer_for_a_call_checks_party_and_state_first() -> None:
    async with running_server() as server:
        ann, bob = await friends(server.url, "ann", "bob")
        stranger = await person(server.url, "stranger")
        call = (await ann.call("call", user="bob"))["call"]
        sdp = "v=0\r\n"
        assert (await ann.request("webrtc_offer", call=call["id"], sdp=sdp))["code"] == \
            "forbidden"
        await bob.call("answer_call", call=call["id"])
        assert (await stranger.request("webrtc_offer", call=call["id"], sdp=sdp))["code"] == \
            "no_such_call"
        reply = await ann.request("webrtc_offer", call=call["id"], sdp=sdp)
        # This test server runs without media: a clear error after the checks passed.
        assert reply["code"] == "internal" and "media" in reply["message"]
        both = await ann.request("webrtc_offer", call=call["id"], room="r", sdp=sdp)
        assert both["code"] == "bad_request"
        await close_all([ann, bob, stranger])


@pytest.mark.parametrize("binary", [True, False])
async def test_call_events_come_in_each_clients_encoding(binary: bool) -> None:
    async with running_server() as server:
        ann = await person(server.url, "ann", binary=binary)
        bob = await person(server.url, "bob", binary=not binary)
        await befriend(ann, bob)
        call = (await ann.call("call", user="bob"))["call"]
        await bob.event("call_incoming")
        assert bob.log[-1].binary is (not binary)
        await bob.call("answer_call", call=call["id"])
        await ann.event("call_state")
        assert ann.log[-1].binary is binary
        json.dumps(ann.log[-1].message)  # plain data either way
        await close_all([ann, bob])
