"""Pieces of the client's people and calls that need no server: the CLI's lines and words,
and the calls a VoiceClient keeps from the events and replies handed to it, also when an
event is read before the reply to the request that caused it (calls, matching, rooms)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from client import ClientError, VoiceClient
from client.cli import build_parser
from client.cli.explain import explain
from client.cli.output import format_call, format_event
from protocol.codec import encode


def state(call_id: str = "c1", status: str = "ringing", **extra: Any) -> dict[str, Any]:
    return {"id": call_id, "state": status, "video": False, "kind": "friend",
            "caller": {"user": "ada", "name": "Ada", "app": "douyin", "away": False},
            "callee": {"user": "bob", "name": "Bob", "away": False},
            "started_at": None, "reason": None, **extra}


def test_call_lines() -> None:
    assert format_call(state(video=True)) == (
        "video call c1 from Ada (ada) in douyin to Bob (bob): ringing")
    away = state(status="active", callee={"user": "bob", "name": "bob", "away": True})
    assert format_call(away) == "call c1 from Ada (ada) in douyin to bob: active [bob away]"
    assert format_event({"type": "call_ended", "call": state(status="ended"),
                         "reason": "declined"}) == "call c1 ended (declined)"
    assert format_event({"type": "followed", "user": "cy", "name": "Cy", "mutual": True}) == (
        "Cy (cy) follows you (friends: you follow each other)")
    assert "garbage" in format_event({"type": "call_incoming", "call": "garbage"})  # no raise


@pytest.mark.parametrize(("code", "words"), [
    ("busy", "busy: bob is in another call right now"),
    ("user_offline", "user_offline: bob is not online in an app this call rings in; try again"
                     " later"),
    ("not_friends", "not_friends: you can only call friends: you and bob must follow each other"
                    " in this app"),
    ("no_such_user", "no_such_user: there is no user bob (they have never signed in)"),
    ("already_in_call", "already_in_call: you already have a call ringing or going on;"
                        " hang up first"),
])
def test_each_call_error_in_plain_words(code: str, words: str) -> None:
    assert explain(ClientError(code, "server text"), "bob") == words


def test_server_words_stay_where_they_carry_the_detail() -> None:
    assert explain(ClientError("bad_request", "field 'user' must be someone else")) == (
        "bad_request: field 'user' must be someone else")
    assert explain(ClientError("brand_new", "whatever")) == "brand_new: whatever"


def test_the_cli_knows_the_people_and_call_modes() -> None:
    parser = build_parser()
    args = parser.parse_args(["--user", "ada", "--app", "douyin", "call", "bob", "--video",
                              "--tone", "440", "--seconds", "3"])
    assert (args.user, args.target, args.app, args.video, args.tone) == (
        "ada", "bob", "douyin", True, 440.0)
    args = parser.parse_args(["answer", "--count", "2", "--record", "x.wav", "--name", "Bob"])
    assert (args.count, args.record, args.name) == (2, "x.wav", "Bob")
    args = parser.parse_args(["--name", "Ada", "follow", "bob"])
    assert (args.name, args.target, args.user) == ("Ada", "bob", None)


def client() -> VoiceClient:
    """A client that never connected: the events and replies are handed to it directly."""
    return VoiceClient("ws://127.0.0.1:9/ws", user="bob", name="Bob")


def test_calls_follow_events_and_replies() -> None:
    c = client()
    c._dispatch_event({"type": "call_incoming", "call": state()})
    assert [x["id"] for x in c.live_calls()] == ["c1"]
    assert c.role_in(state()) == "callee" and c.peer_of(state())["user"] == "ada"
    c._replied("answer_call", {"call": "c1"}, {"type": "ok", "call": state(status="active")})
    assert c.calls["c1"]["state"] == "active"
    c._replied("hangup", {"call": "c1"}, {"type": "ok"})
    assert c.calls["c1"]["reason"] == "hangup" and c.ended_here("c1")

    c._dispatch_event({"type": "call_incoming", "call": state("c2")})
    c._dispatch_event({"type": "call_ended", "call": state("c2", "active"),
                       "reason": "answered_elsewhere"})
    assert c.ended_here("c2") and c.live_calls() == []
    c._dispatch_event({"type": "call_incoming", "call": state("c3")})
    c._replied("hangup", {"call": "c3"}, {"type": "ok"})  # a callee's hangup while ringing
    assert c.calls["c3"]["reason"] == "declined"
    # An error reply changes nothing.
    c._dispatch_event({"type": "call_incoming", "call": state("c4")})
    c._replied("decline_call", {"call": "c4"}, {"type": "error", "code": "no_such_call"})
    assert c.calls["c4"]["state"] == "ringing"


def test_list_calls_says_which_calls_still_live() -> None:
    c = client()
    for call_id in ("c1", "c2"):
        c._dispatch_event({"type": "call_incoming", "call": state(call_id)})
    c._replied("list_calls", {}, {"type": "ok", "calls": [state("c2", "active")]})
    assert c.calls["c1"]["state"] == "ended" and c.calls["c2"]["state"] == "active"
    assert [x["id"] for x in c.live_calls()] == ["c2"]


def test_ended_calls_are_kept_within_a_bound() -> None:
    c = client()
    for n in range(150):
        c._dispatch_event({"type": "call_ended", "call": state(f"x{n}", "ended"),
                           "reason": "hangup"})
    c._dispatch_event({"type": "call_incoming", "call": state("live")})
    assert len(c.calls) == 101 and "live" in c.calls and "x149" in c.calls


async def test_wait_call_wakes_on_the_change_and_times_out_otherwise() -> None:
    c = client()
    c._dispatch_event({"type": "call_incoming", "call": state()})
    waiting = asyncio.ensure_future(c.wait_call("c1", "active", timeout=5))
    await asyncio.sleep(0)
    c._dispatch_event({"type": "call_state", "call": state(status="active")})
    assert (await waiting)["state"] == "active"
    with pytest.raises(ClientError) as info:
        await c.wait_call("c1", timeout=0.05)
    assert info.value.code == "timeout"


async def read_together(c: VoiceClient, type: str, params: dict[str, Any],
                        reply: dict[str, Any], *events: dict[str, Any]) -> dict[str, Any]:
    """A request of `type` whose reply and the `events` after it are read in one go, as a
    fast server's frames are: the reader handles them all before the requester resumes."""
    future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
    c._pending[7] = (future, type, 0.0, params)
    for frame in ({"id": 7, **reply}, *events):
        c._receive(encode(frame, False))
    return await future


async def test_a_decline_read_with_the_reply_to_our_call_ends_it() -> None:
    c = VoiceClient("ws://127.0.0.1:9/ws", user="ada", name="Ada")
    await read_together(c, "call", {"user": "bob"}, {"type": "ok", "call": state()},
                        {"type": "call_ended", "call": state(status="ended", reason="declined"),
                         "reason": "declined"})
    assert c.calls["c1"]["state"] == "ended" and c.calls["c1"]["reason"] == "declined"


async def test_a_match_read_with_the_reply_to_match_join_ends_the_wait() -> None:
    c = VoiceClient("ws://127.0.0.1:9/ws", user="ada", name="Ada")
    await read_together(c, "match_join", {"tags": ["jazz"]}, {"type": "ok"})
    assert c.waiting == {"tags": ["jazz"]}
    await read_together(c, "match_join", {"city": "any"}, {"type": "ok"},
                        {"type": "match_found", "call": state(status="active"),
                         "peer": {"user": "bob", "name": "Bob"}})
    assert c.waiting is None and c.calls["c1"]["state"] == "active"


async def test_a_kick_read_with_the_reply_to_join_room_leaves_us_out() -> None:
    c = VoiceClient("ws://127.0.0.1:9/ws", user="ada", name="Ada")
    await read_together(c, "join_room", {"room": "r1"}, {"type": "ok"})
    await read_together(c, "join_room", {"room": "r2"}, {"type": "ok"},
                        {"type": "kicked", "room": "r2", "ban": True})
    assert c.rooms == {"r1"}  # a reconnect will not try to join r2 again
