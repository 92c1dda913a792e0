"""Props in a room: who may use which, and what each does to the room (PURE).

docs/protocol.md "Props". Each step takes the room, the actor and what the service prepared
(a catalogue id it checked, dice it rolled) and returns an `Outcome` like `rooms.machine.apply`:
it works on a copy, bumps the version when it changes the room, raises `RoomError` and changes
nothing when refused. Access errors come in the protocol's order (`banned`, `not_in_room`,
`forbidden`).

Who may:
- a voice effect: someone heard in the room, i.e. the host or a seated user (a muted one too:
  the effect waits for the voice);
- a sound: the host, an admin or a seated user;
- music: the host or an admin;
- dice and cards: any member.

Effects and music are state (`rooms.propstate`, in `Room.props`); sounds, dice and cards are
events only (the version stays, so a store only checks it and passes the events on).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from protocol.errors import ErrorCode
from rooms.events import EventType
from rooms.model import Room
from rooms.propstate import Music
from rooms.rules import Access, Tx, check_access
from rooms.values import SYSTEM, Actor, Outcome, RoomError

Body = Callable[[Tx], dict[str, Any]]


def _run(room: Room, actor: Actor, now: float, access: Access, body: Body) -> Outcome:
    if access is not Access.INTERNAL:
        check_access(room, actor.user, access)
    tx = Tx(room.copy(), actor, now)
    reply = body(tx)
    if tx.changed:
        tx.room.version = room.version + 1
    return Outcome(tx.room, reply, tx.events)


def _heard_here(room: Room, user: str) -> bool:
    return user == room.host or room.seat_of(user) is not None


def set_voice_effect(room: Room, actor: Actor, effect: str, now: float) -> Outcome:
    def body(tx: Tx) -> dict[str, Any]:
        if not _heard_here(tx.room, actor.user):
            raise RoomError(ErrorCode.FORBIDDEN,
                            "only someone heard in the room (the host or a seated user) may "
                            "set a voice effect")
        props = tx.room.props
        if props.effect_of(actor.user) == effect:
            tx.unchanged()  # told again all the same: every member sees the same answer
        else:
            tx.room.props = props.with_effect(actor.user, effect)
        tx.emit(EventType.VOICE_EFFECT, {"user": actor.user, "effect": effect})
        return {}

    return _run(room, actor, now, Access.MEMBER, body)


def play_sound(room: Room, actor: Actor, sound: str, now: float) -> Outcome:
    def body(tx: Tx) -> dict[str, Any]:
        if not (tx.room.is_moderator(actor.user) or _heard_here(tx.room, actor.user)):
            raise RoomError(ErrorCode.FORBIDDEN,
                            "only the host, an admin or a seated user may play a sound")
        tx.unchanged()
        tx.emit(EventType.SOUND_PLAYED, {"user": actor.user, "sound": sound})
        return {}

    return _run(room, actor, now, Access.MEMBER, body)


def game(room: Room, actor: Actor, name: str, result: dict[str, Any], reply: dict[str, Any],
         now: float) -> Outcome:
    """Dice or a card drawn by the service: every member gets the same `game_event`."""
    def body(tx: Tx) -> dict[str, Any]:
        tx.unchanged()
        tx.emit(EventType.GAME_EVENT,
                {"user": actor.user, "name": actor.name, "game": name, "result": result})
        return reply

    return _run(room, actor, now, Access.MEMBER, body)


def _music(tx: Tx, music: Music) -> dict[str, Any]:
    if tx.room.props.music == music:
        tx.unchanged()
    else:
        tx.room.props = tx.room.props.with_music(music)
    tx.emit(EventType.MUSIC_STATE, music.to_wire())
    return {}


def play_music(room: Room, actor: Actor, track: str, loop: bool, now: float) -> Outcome:
    def body(tx: Tx) -> dict[str, Any]:
        old = tx.room.props.music
        return _music(tx, Music(track, old.volume, loop, old.play + 1, now))

    return _run(room, actor, now, Access.MODERATOR, body)


def stop_music(room: Room, actor: Actor, now: float) -> Outcome:
    def body(tx: Tx) -> dict[str, Any]:
        old = tx.room.props.music
        return _music(tx, Music(None, old.volume, False, old.play, 0.0))

    return _run(room, actor, now, Access.MODERATOR, body)


def set_music_volume(room: Room, actor: Actor, volume: float, now: float) -> Outcome:
    if not 0.0 <= volume <= 1.0:  # validate checked it; the rules trust no one
        raise RoomError(ErrorCode.BAD_REQUEST, "volume: 0.0 to 1.0", field="volume")

    def body(tx: Tx) -> dict[str, Any]:
        old = tx.room.props.music
        return _music(tx, Music(old.track, float(volume), old.loop, old.play, old.started_at))

    return _run(room, actor, now, Access.MODERATOR, body)


def music_ended(room: Room, play: int, now: float) -> Outcome:
    """The media says play number `play` ended (a track that does not loop ran out, or its file
    could not be read): the music stops, unless another play has started since (nothing)."""
    def body(tx: Tx) -> dict[str, Any]:
        old = tx.room.props.music
        if old.play != play or not old.playing:
            tx.unchanged()
            return {}
        return _music(tx, Music(None, old.volume, False, old.play, 0.0))

    return _run(room, SYSTEM, now, Access.INTERNAL, body)
