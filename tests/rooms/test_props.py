"""rooms.props and rooms.propstate: who may use which prop in a room, what each changes, the
events, and the props state's round trip through storage (docs/protocol.md "Props")."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from protocol.errors import ErrorCode
from protocol.schema import JoinRoom, KickMember, LeaveRoom, LeaveSeat, Mute, SeatMode, TakeSeat
from rooms import props
from rooms.events import EventType
from rooms.model import Room
from rooms.propstate import DEFAULT_MUSIC_VOLUME, Music, RoomProps
from rooms.values import Outcome, RoomError
from tests.rooms.roomkit import HOST, NOW, actor, new_room, step

Step = Callable[[Room, str], Outcome]


def room_with_people() -> Room:
    """host; "adm" an admin; "s" seated on seat 0; "aud" in the audience; "x" banned."""
    room = new_room(seat_mode=SeatMode.FREE)
    for user in ("adm", "s", "aud", "x"):
        room = step(room, user, JoinRoom(room.id))
    from protocol.schema import SetAdmin

    room = step(room, HOST, SetAdmin(room.id, "adm", True))
    room = step(room, "s", TakeSeat(room.id, 0))
    room = step(room, HOST, KickMember(room.id, "x", ban=True))
    return room


def run(room: Room, user: str, fn: Step) -> Outcome:
    before = room.to_dict()
    outcome = fn(room, user)
    assert room.to_dict() == before, "a step changed its input room"
    return outcome


def refused(room: Room, user: str, fn: Step) -> ErrorCode:
    before = room.to_dict()
    with pytest.raises(RoomError) as info:
        fn(room, user)
    assert room.to_dict() == before
    return info.value.code


EFFECT: Step = lambda room, u: props.set_voice_effect(room, actor(u), "echo", NOW)  # noqa: E731
SOUND: Step = lambda room, u: props.play_sound(room, actor(u), "ding", NOW)  # noqa: E731
DICE: Step = lambda room, u: props.game(room, actor(u), "dice", {"values": [3]},  # noqa: E731
                                         {"values": [3]}, NOW)
MUSIC: Step = lambda room, u: props.play_music(room, actor(u), "song", True, NOW)  # noqa: E731
STOP: Step = lambda room, u: props.stop_music(room, actor(u), NOW)  # noqa: E731
VOLUME: Step = lambda room, u: props.set_music_volume(room, actor(u), 0.2, NOW)  # noqa: E731

# Who may: the table of docs/protocol.md "Props" for a room.
ALLOWED: dict[str, tuple[Step, set[str]]] = {
    "effect": (EFFECT, {HOST, "s"}),
    "sound": (SOUND, {HOST, "adm", "s"}),
    "dice": (DICE, {HOST, "adm", "s", "aud"}),
    "music": (MUSIC, {HOST, "adm"}),
    "stop": (STOP, {HOST, "adm"}),
    "volume": (VOLUME, {HOST, "adm"}),
}


@pytest.mark.parametrize("prop", sorted(ALLOWED))
def test_who_may_use_each_prop(prop: str) -> None:
    fn, allowed = ALLOWED[prop]
    room = room_with_people()
    for user in (HOST, "adm", "s", "aud"):
        if user in allowed:
            run(room, user, fn)
        else:
            assert refused(room, user, fn) is ErrorCode.FORBIDDEN, user
    assert refused(room, "stranger", fn) is ErrorCode.NOT_IN_ROOM
    assert refused(room, "x", fn) is ErrorCode.BANNED


def test_a_voice_effect_is_room_state_every_member_sees() -> None:
    room = room_with_people()
    out = run(room, "s", EFFECT)
    assert out.reply == {}
    assert [(e.type, e.data, e.to) for e in out.events] == [
        (EventType.VOICE_EFFECT, {"user": "s", "effect": "echo"}, None)]
    assert out.room is not None and out.room.version == room.version + 1
    assert out.room.props.effect_of("s") == "echo"
    assert out.room.state_for("aud")["effects"] == {"s": "echo"}
    # The same effect again: told again, nothing changes.
    again = run(out.room, "s", EFFECT)
    assert again.room is not None and again.room.version == out.room.version
    assert again.events[0].type is EventType.VOICE_EFFECT
    # `none` takes it off.
    off = props.set_voice_effect(out.room, actor("s"), "none", NOW)
    assert off.room is not None and off.room.props.effects == {}
    assert off.events[0].data == {"user": "s", "effect": "none"}


def test_a_muted_seat_may_set_its_effect_and_it_goes_with_the_member() -> None:
    room = step(room_with_people(), "s", Mute(room_with_people().id))
    out = run(room, "s", EFFECT)
    assert out.room is not None
    kept = step(out.room, "s", LeaveSeat(room.id))  # off the seat: kept for the next seat
    assert kept.props.effect_of("s") == "echo"
    gone = step(kept, "s", LeaveRoom(room.id))
    assert gone.props.effects == {}


def test_sounds_and_games_are_events_only() -> None:
    room = room_with_people()
    out = run(room, "s", SOUND)
    assert out.room is not None and out.room.version == room.version
    assert [(e.type, e.data) for e in out.events] == [
        (EventType.SOUND_PLAYED, {"user": "s", "sound": "ding"})]
    out = run(room, "aud", DICE)
    assert out.room is not None and out.room.version == room.version
    assert out.reply == {"values": [3]}
    assert [(e.type, e.data, e.to) for e in out.events] == [
        (EventType.GAME_EVENT, {"user": "aud", "name": "Aud", "game": "dice",
                                "result": {"values": [3]}}, None)]


def test_music_plays_stops_and_keeps_its_volume() -> None:
    room = room_with_people()
    assert "music" not in room.state_for("aud") and "effects" not in room.state_for("aud")
    playing = run(room, "adm", MUSIC).room
    assert playing is not None
    music = playing.props.music
    assert (music.track, music.playing, music.loop, music.play) == ("song", True, True, 1)
    louder = run(playing, HOST, VOLUME)
    assert louder.events[0].type is EventType.MUSIC_STATE
    assert louder.events[0].data == {"track": "song", "playing": True, "volume": 0.2,
                                     "loop": True}
    assert louder.room is not None
    assert louder.room.state_for("aud")["music"] == louder.events[0].data
    assert louder.room.state_for("aud")["effects"] == {}
    again = run(louder.room, HOST, MUSIC).room  # the same track again: a new play
    assert again is not None and again.props.music.play == 2
    stopped = run(again, "adm", STOP)
    assert stopped.events[0].data == {"track": None, "playing": False, "volume": 0.2,
                                      "loop": False}
    assert stopped.room is not None and stopped.room.props.music.play == 2


def test_volume_outside_the_range_is_bad_request() -> None:
    room = room_with_people()
    with pytest.raises(RoomError) as info:
        props.set_music_volume(room, actor(HOST), 1.5, NOW)
    assert info.value.code is ErrorCode.BAD_REQUEST and info.value.field == "volume"


def test_music_ended_stops_only_the_play_it_names() -> None:
    room = room_with_people()
    first = run(room, HOST, MUSIC).room
    assert first is not None
    second = run(first, HOST, MUSIC).room
    assert second is not None
    stale = props.music_ended(second, 1, NOW)  # the first play's end, reported late
    assert stale.events == [] and stale.room is not None
    assert stale.room.version == second.version and stale.room.props.music.playing
    ended = props.music_ended(second, 2, NOW)
    assert ended.room is not None and not ended.room.props.music.playing
    assert [e.type for e in ended.events] == [EventType.MUSIC_STATE]
    assert props.music_ended(ended.room, 2, NOW).events == []  # already stopped


def test_props_state_survives_storage_and_copies() -> None:
    room = run(room_with_people(), "s", EFFECT).room
    assert room is not None
    room = run(room, HOST, MUSIC).room
    assert room is not None
    data: dict[str, Any] = room.to_dict()
    back = Room.from_dict(data)
    assert back.props == room.props
    assert back.to_dict() == data
    assert room.copy().props is room.props  # immutable: shared by copies
    # A room without props stores no props at all (its blob as before props came in).
    plain = room_with_people()
    assert "props" not in plain.to_dict()
    assert Room.from_dict(plain.to_dict()).props == RoomProps()
    assert Music().to_wire() == {"track": None, "playing": False,
                                 "volume": DEFAULT_MUSIC_VOLUME, "loop": False}
