"""Props in a call over real websockets (docs/protocol.md "Props"): dice, cards, sounds and
voice effects between the two parties, events carrying the call's id; who may; bad input;
the same across two nodes on one real Redis."""

from __future__ import annotations

from typing import Any

from tests.server.peoplekit import befriend, person
from tests.support.redis import fresh_redis_url
from tests.support.server import WireClient, close_all, running_server


async def active_call(url: str, other_url: str | None = None
                      ) -> tuple[WireClient, WireClient, str]:
    ann = await person(url, "ann", name="Ann")
    bob = await person(other_url or url, "bob", name="Bob")
    await befriend(ann, bob)
    call = (await ann.call("call", user="bob"))["call"]["id"]
    await bob.call("answer_call", call=call)
    await ann.event("call_state", timeout=10)
    ann.drain()
    bob.drain()
    return ann, bob, call


async def both_get(clients: list[WireClient], type_: str, **match: Any) -> list[dict[str, Any]]:
    return [await c.event(type_, timeout=10, **match) for c in clients]


async def test_props_between_the_parties_of_a_call() -> None:
    async with running_server() as srv:
        ann, bob, call = await active_call(srv.url)
        try:
            values = (await bob.call("roll_dice", call=call, count=2))["values"]
            for event in await both_get([ann, bob], "game_event"):
                assert event == {"type": "game_event", "call": call, "user": "bob",
                                 "name": "Bob", "game": "dice", "result": {"values": values}}
            card = (await ann.call("draw_card", call=call, deck="truth"))["card"]
            for event in await both_get([ann, bob], "game_event", game="card"):
                assert event["result"] == card and event["call"] == call
            await ann.call("play_sound", call=call, sound="applause")
            for event in await both_get([ann, bob], "sound_played"):
                assert event == {"type": "sound_played", "call": call, "user": "ann",
                                 "sound": "applause"}
            await bob.call("set_voice_effect", call=call, effect="robot")
            for event in await both_get([ann, bob], "voice_effect"):
                assert event == {"type": "voice_effect", "call": call, "user": "bob",
                                 "effect": "robot"}
            # The call's state tells it too (after a reload: list_calls).
            listed = (await ann.call("list_calls"))["calls"]
            assert listed[0]["effects"] == {"bob": "robot"}
            await bob.call("set_voice_effect", call=call, effect="none")
            await both_get([ann, bob], "voice_effect", effect="none")
            assert "effects" not in (await ann.call("list_calls"))["calls"][0]
        finally:
            await close_all([ann, bob])


async def test_only_the_parties_of_an_active_call_and_never_music() -> None:
    async with running_server() as srv:
        ann, bob, call = await active_call(srv.url)
        eve = await person(srv.url, "eve")
        cat, dan = await person(srv.url, "cat"), await person(srv.url, "dan")
        await befriend(cat, dan)
        ringing = (await cat.call("call", user="dan"))
        try:
            for verb, params in [("roll_dice", {}), ("draw_card", {"deck": "dare"}),
                                 ("play_sound", {"sound": "ding"}),
                                 ("set_voice_effect", {"effect": "echo"})]:
                assert await eve.error(verb, call=call, **params) == "no_such_call"
                assert await ann.error(verb, call="no-such-call", **params) == "no_such_call"
                # A call still ringing: no props yet.
                assert await cat.error(verb, call=ringing["call"]["id"], **params) == \
                    "forbidden"
            reply = await ann.request("play_sound", call=call, sound="kazoo")
            assert reply["code"] == "bad_request" and reply["field"] == "sound"
            reply = await eve.request("play_sound", call="nope", sound="kazoo")
            assert reply["code"] == "bad_request"  # the catalogue before the call
            # Music is for rooms: play_music names a room, never a call.
            reply = await ann.request("play_music", call=call, track="x")
            assert reply["code"] == "bad_request"
            assert [m for m in await bob.quiet(0.2)
                    if m["type"] in ("game_event", "sound_played", "voice_effect")] == []
        finally:
            await close_all([ann, bob, eve, cat, dan])


async def test_call_props_across_two_nodes() -> None:
    url = fresh_redis_url()
    async with running_server(redis=url, node_id="call-props-a") as a, \
            running_server(redis=url, node_id="call-props-b") as b:
        ann, bob, call = await active_call(a.url, b.url)
        try:
            values = (await ann.call("roll_dice", call=call))["values"]
            event = await bob.event("game_event", timeout=10)
            assert event["result"] == {"values": values} and event["call"] == call
            await bob.call("set_voice_effect", call=call, effect="pitch_up")
            assert (await ann.event("voice_effect", timeout=10))["effect"] == "pitch_up"
            stored = await a.app.calls.store.load(call)
            assert stored is not None and stored.call.effect_of("bob") == "pitch_up"
            assert (await ann.call("list_calls"))["calls"][0]["effects"] == {"bob": "pitch_up"}
        finally:
            await close_all([ann, bob])
