"""Props through the gateway (docs/protocol.md "Props"): dice, cards, sounds, effects and music
state over real websockets, every member seeing the same; bad input, refusals, floods; two
nodes on one real Redis."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from audio.sources import write_wav
from tests.support.redis import fresh_redis_url
from tests.support.server import RunningServer, WireClient, close_all, running_server


@pytest.fixture
def music_dir(tmp_path: Path) -> Path:
    t = np.arange(24000) / 48000
    write_wav(tmp_path / "theme.wav", (6000 * np.sin(2 * np.pi * 330 * t)).astype(np.int16))
    (tmp_path / "notes.txt").write_text("not audio")
    return tmp_path


@pytest.fixture
async def srv(music_dir: Path) -> AsyncIterator[RunningServer]:
    async with running_server(music=music_dir) as server:
        yield server


async def props_room(srv: RunningServer) -> tuple[str, dict[str, WireClient]]:
    """host; "adm" an admin; "sat" on seat 0; "aud" in the audience. Inboxes emptied."""
    host = await srv.client("host", name="Host")
    rid = (await host.call("create_room", title="Props", seat_mode="free"))["room"]["id"]
    clients = {"host": host}
    for user in ("adm", "sat", "aud"):
        clients[user] = await srv.client(user, name=user.title())
        await clients[user].call("join_room", room=rid)
    await host.call("set_admin", room=rid, user="adm", admin=True)
    await clients["sat"].call("take_seat", room=rid, seat=0)
    await asyncio.sleep(0.05)
    for client in clients.values():
        client.drain()
    return rid, clients


async def everyone_gets(clients: dict[str, WireClient], type_: str,
                        **match: Any) -> list[dict[str, Any]]:
    return [await c.event(type_, timeout=5, **match) for c in clients.values()]


async def test_dice_and_cards_everyone_sees_the_same(srv: RunningServer) -> None:
    rid, clients = await props_room(srv)
    try:
        reply = await clients["aud"].call("roll_dice", room=rid, count=5)
        values = reply["values"]
        assert len(values) == 5 and all(1 <= v <= 6 for v in values)
        for event in await everyone_gets(clients, "game_event"):
            assert event == {"type": "game_event", "room": rid, "user": "aud", "name": "Aud",
                             "game": "dice", "result": {"values": values}}
        assert len((await clients["host"].call("roll_dice", room=rid))["values"]) == 1

        reply = await clients["sat"].call("draw_card", room=rid, deck="icebreaker")
        card = reply["card"]
        assert card["deck"] == "icebreaker" and card["text"]
        for event in await everyone_gets(clients, "game_event", game="card"):
            assert event["result"] == card
            assert event["user"] == "sat" and event["name"] == "Sat"
    finally:
        await close_all(list(clients.values()))


async def test_sounds_effects_and_music_state_reach_every_member(srv: RunningServer) -> None:
    rid, clients = await props_room(srv)
    try:
        sounds = (await clients["aud"].call("list_sounds"))["sounds"]
        assert {"applause", "ding", "drum_roll", "laugh", "whoosh", "tada"} <= {
            s["id"] for s in sounds}
        assert (await clients["aud"].call("list_music"))["tracks"] == [
            {"id": "theme", "title": "Theme", "seconds": 0.5}]  # notes.txt skipped

        assert await clients["sat"].call("play_sound", room=rid, sound="ding")
        for event in await everyone_gets(clients, "sound_played"):
            assert event == {"type": "sound_played", "room": rid, "user": "sat",
                             "sound": "ding"}

        await clients["sat"].call("set_voice_effect", room=rid, effect="robot")
        for event in await everyone_gets(clients, "voice_effect"):
            assert event == {"type": "voice_effect", "room": rid, "user": "sat",
                             "effect": "robot"}

        await clients["adm"].call("play_music", room=rid, track="theme", loop=True)
        for event in await everyone_gets(clients, "music_state"):
            assert event == {"type": "music_state", "room": rid, "track": "theme",
                             "playing": True, "volume": 0.5, "loop": True}
        await clients["host"].call("set_music_volume", room=rid, volume=0.8)
        for event in await everyone_gets(clients, "music_state"):
            assert event["volume"] == 0.8 and event["playing"] is True

        # A joiner (and a re-read) sees the effects and the music in the room's state.
        late = await srv.client("late")
        state = (await late.call("join_room", room=rid))["room"]
        assert state["effects"] == {"sat": "robot"}
        assert state["music"] == {"track": "theme", "playing": True, "volume": 0.8,
                                  "loop": True}

        await clients["host"].call("stop_music", room=rid)
        for event in await everyone_gets(clients, "music_state"):
            assert event["track"] is None and event["playing"] is False
        # Leaving the room takes the effect off.
        await clients["sat"].call("leave_room", room=rid)
        state = (await late.call("join_room", room=rid))["room"]
        assert state["effects"] == {}
        await late.close()
    finally:
        await close_all(list(clients.values()))


BAD: list[tuple[str, dict[str, Any], str]] = [
    ("set_voice_effect", {"effect": "chipmunk"}, "effect"),
    ("play_sound", {"sound": "kazoo"}, "sound"),
    ("play_sound", {"sound": "../etc/passwd"}, "sound"),
    ("draw_card", {"deck": "tarot"}, "deck"),
    ("roll_dice", {"count": 6}, "count"),
    ("roll_dice", {"count": 0}, "count"),
    ("roll_dice", {"count": "two"}, "count"),
]


async def test_bad_input_names_the_field_and_changes_nothing(srv: RunningServer) -> None:
    rid, clients = await props_room(srv)
    host = clients["host"]
    try:
        for verb, params, field in BAD:
            reply = await host.request(verb, room=rid, **params)
            assert reply["type"] == "error" and reply["code"] == "bad_request", (verb, params)
            assert reply.get("field") == field, (verb, params, reply)
        for verb, params in [("play_music", {"track": "missing"}),
                             ("set_music_volume", {"volume": 1.5}),
                             ("set_music_volume", {"volume": -0.1})]:
            reply = await host.request(verb, room=rid, **params)
            assert reply["code"] == "bad_request" and reply["field"] in ("track", "volume")
        # Both targets, or neither.
        for params in ({"room": rid, "call": "c1"}, {}):
            for verb, extra in [("roll_dice", {}), ("draw_card", {"deck": "truth"}),
                                ("play_sound", {"sound": "ding"}),
                                ("set_voice_effect", {"effect": "echo"})]:
                reply = await host.request(verb, **params, **extra)
                assert reply["code"] == "bad_request", (verb, params, reply)
        assert await host.error("play_music", track="theme") == "bad_request"  # no room
        # Nothing went out to anyone.
        assert [m for m in await clients["aud"].quiet(0.2)
                if m["type"] in ("game_event", "sound_played", "music_state")] == []
        state = (await clients["aud"].call("join_room", room=rid))["room"]
        assert "music" not in state and "effects" not in state
    finally:
        await close_all(list(clients.values()))


async def test_who_may_is_enforced(srv: RunningServer) -> None:
    rid, clients = await props_room(srv)
    aud, adm = clients["aud"], clients["adm"]
    stranger = await srv.client("stranger")
    try:
        assert await aud.error("set_voice_effect", room=rid, effect="echo") == "forbidden"
        assert await adm.error("set_voice_effect", room=rid, effect="echo") == "forbidden"
        assert await aud.error("play_sound", room=rid, sound="ding") == "forbidden"
        for verb, params in [("play_music", {"track": "theme"}), ("stop_music", {}),
                             ("set_music_volume", {"volume": 0.1})]:
            assert await aud.error(verb, room=rid, **params) == "forbidden"
            assert await clients["sat"].error(verb, room=rid, **params) == "forbidden"
        for verb, params in [("roll_dice", {}), ("draw_card", {"deck": "dare"}),
                             ("play_sound", {"sound": "ding"})]:
            assert await stranger.error(verb, room=rid, **params) == "not_in_room"
            assert await stranger.error(verb, room="nowhere", **params) == "no_such_room"
        # An unknown sound is bad_request even where the room would refuse.
        assert await stranger.error("play_sound", room="nowhere", sound="kazoo") == \
            "bad_request"
        assert [m for m in await clients["host"].quiet(0.2)
                if m["type"] in ("voice_effect", "sound_played", "music_state")] == []
    finally:
        await close_all([*clients.values(), stranger])


async def test_a_dice_flood_is_rate_limited(music_dir: Path) -> None:
    async with running_server(rate=5.0, burst=10) as srv:
        rid, clients = await props_room(srv)
        flooder, watcher = clients["aud"], clients["host"]
        try:
            replies = await asyncio.gather(*(flooder.request("roll_dice", room=rid)
                                             for _ in range(40)))
            codes = [r["type"] if r["type"] == "ok" else r["code"] for r in replies]
            assert codes.count("rate_limited") >= 25
            allowed = codes.count("ok")
            assert allowed >= 5  # the burst, less what hello and join_room spent
            seen = [m for m in await watcher.quiet(0.5) if m["type"] == "game_event"]
            assert len(seen) == allowed  # exactly the rolls that were answered ok
            assert await watcher.call("roll_dice", room=rid)  # others are served meanwhile
        finally:
            await close_all(list(clients.values()))


async def test_props_across_two_nodes(music_dir: Path) -> None:
    url = fresh_redis_url()
    async with running_server(redis=url, node_id="props-a", music=music_dir) as a, \
            running_server(redis=url, node_id="props-b", music=music_dir) as b:
        host = await a.client("host")
        rid = (await host.call("create_room", title="x", seat_mode="free"))["room"]["id"]
        far = await b.client("far")
        await far.call("join_room", room=rid)
        await far.call("take_seat", room=rid, seat=0)
        try:
            values = (await host.call("roll_dice", room=rid, count=2))["values"]
            event = await far.event("game_event", timeout=10)
            assert event["result"] == {"values": values} and event["user"] == "host"
            await far.call("set_voice_effect", room=rid, effect="pitch_down")
            assert (await host.event("voice_effect", timeout=10))["effect"] == "pitch_down"
            await host.call("play_music", room=rid, track="theme")
            assert (await far.event("music_state", timeout=10))["track"] == "theme"
            state = (await (await b.client("third")).call("join_room", room=rid))["room"]
            assert state["effects"] == {"far": "pitch_down"}
            assert state["music"]["track"] == "theme"
        finally:
            await close_all([host, far])
