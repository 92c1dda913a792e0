"""services.props over real RoomServices and stores (memory, and Redis shared by two nodes):
catalogue checks first, draws made once, props state the same on every node."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest

from audio.sources import write_wav
from media.catalogue import Catalogue
from protocol.errors import ErrorCode, ProtocolError
from protocol.schema import (
    CreateRoom,
    Deck,
    DrawCard,
    Effect,
    JoinRoom,
    PlayMusic,
    PlaySound,
    RollDice,
    SeatMode,
    SetMusicVolume,
    SetVoiceEffect,
    StopMusic,
    TakeSeat,
)
from rooms.events import EventType
from services.props import PropsService
from services.rooms import RoomService
from store.memory import MemoryStore
from tests.rooms.roomkit import actor
from tests.support.redis import fresh_redis_url


@pytest.fixture
def music_dir(tmp_path: Path) -> Path:
    t = np.arange(48000) / 48000
    write_wav(tmp_path / "calm_song.wav", (8000 * np.sin(2 * np.pi * 220 * t)).astype(np.int16))
    return tmp_path


@pytest.fixture
async def props(music_dir: Path) -> AsyncIterator[PropsService]:
    rooms = RoomService(MemoryStore())
    await rooms.start()
    draws = itertools.count()
    service = PropsService(rooms, Catalogue.load(None, music_dir),
                           randbelow=lambda n: next(draws) % n)
    try:
        yield service
    finally:
        await rooms.close()


async def a_room(rooms: RoomService) -> str:
    out = await rooms.execute(actor("host"), CreateRoom("Props", seat_mode=SeatMode.FREE))
    assert out.room is not None
    for user in ("s", "aud"):
        await rooms.execute(actor(user), JoinRoom(out.room.id))
    await rooms.execute(actor("s"), TakeSeat(out.room.id, 0))
    return out.room.id


def service_rooms(props: PropsService) -> RoomService:
    assert isinstance(props.rooms, RoomService)
    return props.rooms


async def test_catalogues(props: PropsService) -> None:
    sounds = props.list_sounds()["sounds"]
    assert [s["id"] for s in sounds] == ["applause", "ding", "drum_roll", "laugh", "whoosh",
                                         "tada"]
    assert all(0.5 < s["seconds"] < 5 and s["title"] for s in sounds)
    assert props.list_music() == {"tracks": [{"id": "calm_song", "title": "Calm song",
                                              "seconds": 1.0}]}


async def test_the_catalogue_is_checked_before_the_room(props: PropsService) -> None:
    with pytest.raises(ProtocolError) as info:
        await props.in_room(actor("s"), "no-such-room", PlaySound("kazoo", room="no-such-room"))
    assert info.value.code is ErrorCode.BAD_REQUEST and info.value.field == "sound"
    with pytest.raises(ProtocolError) as info:
        await props.in_room(actor("s"), "nope", PlayMusic("nope", "missing"))
    assert info.value.code is ErrorCode.BAD_REQUEST and info.value.field == "track"
    with pytest.raises(ProtocolError) as info:
        await props.in_room(actor("s"), "nope", PlaySound("ding", room="nope"))
    assert info.value.code is ErrorCode.NO_SUCH_ROOM


async def test_dice_and_cards_are_drawn_by_the_server(props: PropsService) -> None:
    rid = await a_room(service_rooms(props))
    out = await props.in_room(actor("aud"), rid, RollDice(count=3, room=rid))
    assert out.reply == {"values": [1, 2, 3]}  # the injected source: 0, 1, 2
    event = out.events[0]
    assert event.type is EventType.GAME_EVENT
    assert event.data == {"user": "aud", "name": "Aud", "game": "dice",
                          "result": {"values": [1, 2, 3]}}
    out = await props.in_room(actor("s"), rid, DrawCard(Deck.DARE, room=rid))
    assert out.reply["card"]["deck"] == "dare" and out.reply["card"]["text"]
    assert out.events[0].data["result"] == out.reply["card"]
    assert out.events[0].data["game"] == "card"


async def test_forbidden_props_change_nothing(props: PropsService) -> None:
    rooms = service_rooms(props)
    rid = await a_room(rooms)
    before = await rooms.get_room(rid)
    for command in (SetVoiceEffect(Effect.ECHO, room=rid), PlayMusic(rid, "calm_song"),
                    StopMusic(rid), SetMusicVolume(rid, 0.1)):
        with pytest.raises(ProtocolError) as info:
            await props.in_room(actor("aud"), rid, command)
        assert info.value.code is ErrorCode.FORBIDDEN
    after = await rooms.get_room(rid)
    assert before is not None and after is not None
    assert after.to_dict() == before.to_dict()


async def test_music_ended_is_reported_once(props: PropsService) -> None:
    rooms = service_rooms(props)
    rid = await a_room(rooms)
    out = await props.in_room(actor("host"), rid, PlayMusic(rid, "calm_song", loop=False))
    assert out.room is not None and out.room.props.music.play == 1
    ended = await props.music_ended(rid, 1)
    assert ended is not None and [e.type for e in ended.events] == [EventType.MUSIC_STATE]
    again = await props.music_ended(rid, 1)
    assert again is not None and again.events == []
    assert await props.music_ended("gone", 1) is None


async def test_props_state_is_the_same_on_every_node(music_dir: Path) -> None:
    from store.redis import RedisStore

    url = fresh_redis_url()
    nodes = [RoomService(RedisStore(url, f"node-{i}")) for i in range(2)]
    for node in nodes:
        await node.start()
    try:
        catalogue = Catalogue.load(None, music_dir)
        first, second = (PropsService(node, catalogue) for node in nodes)
        rid = await a_room(nodes[0])
        await first.in_room(actor("s"), rid, SetVoiceEffect(Effect.PITCH_UP, room=rid))
        await second.in_room(actor("host"), rid, PlayMusic(rid, "calm_song", loop=True))
        await first.in_room(actor("host"), rid, SetMusicVolume(rid, 0.25))
        for node in nodes:
            room = await node.get_room(rid)
            assert room is not None
            assert room.props.effect_of("s") == "pitch_up"
            assert room.state_for("aud")["music"] == {"track": "calm_song", "playing": True,
                                                      "volume": 0.25, "loop": True}
    finally:
        for node in nodes:
            await node.close()
