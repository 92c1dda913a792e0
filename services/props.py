"""`PropsService`: voice effects, sounds, music, dice and cards, for rooms (and calls).

docs/protocol.md "Props". Checks in the protocol's order: the catalogue first (an unknown
`sound` or `track` is `bad_request` naming the field), then the room's own checks in
`rooms.props` (`no_such_room`, `banned`, `not_in_room`, `forbidden`). Dice and cards are drawn
here, once, with a secure random source (props.games), before the room step: a step re-run
after a version conflict announces the same draw.

Where the state lives: effects and music are part of the room (`Room.props`, committed through
`RoomService.update` like any room change), so every node sees them and the room's media owner
follows them; sounds, dice and cards are events only. In a call, a party's effect is part of
the call (`CallState.effects`, committed with the call's version check: every node sees the
change and the call's media follows it), and the props events go to both parties as a
personal batch (they carry the call's id, not its state), which reaches every node.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any, Protocol

from calls import props as call_rules
from calls.machine import Recipients
from props.games import RandBelow, draw_card, roll_dice
from protocol.errors import ErrorCode, ProtocolError
from protocol.schema import (
    DrawCard,
    PlayMusic,
    PlaySound,
    RollDice,
    SetMusicVolume,
    SetVoiceEffect,
    StopMusic,
)
from rooms import props as rules
from rooms.model import Room
from rooms.values import SYSTEM, Actor, Outcome
from store.base import Conflict
from store.calls import CallStore
from store.user_events import UserBatch, UserEvent

Step = Callable[[Room, Actor, float], Outcome]


class Catalogue(Protocol):
    """The server's sounds and music (media.catalogue.Catalogue)."""

    def list_sounds(self) -> list[dict[str, Any]]: ...

    def list_tracks(self) -> list[dict[str, Any]]: ...

    def has_sound(self, sound_id: str) -> bool: ...

    def has_track(self, track_id: str) -> bool: ...


class RoomUpdates(Protocol):
    """services.rooms.RoomService, as props use it."""

    async def update(self, actor: Actor, room_id: str, step: Step) -> Outcome: ...


RoomProp = SetVoiceEffect | PlaySound | RollDice | DrawCard | PlayMusic | StopMusic \
    | SetMusicVolume
CallProp = SetVoiceEffect | PlaySound | RollDice | DrawCard
# A call changed this many times under one effect is too busy: the client may retry.
MAX_ATTEMPTS = 50


class PropsService:
    def __init__(self, rooms: RoomUpdates, catalogue: Catalogue, *,
                 calls: CallStore | None = None, node_id: str = "",
                 randbelow: RandBelow = secrets.randbelow) -> None:
        self.rooms = rooms
        self.catalogue = catalogue
        self.calls = calls
        self.node_id = node_id
        self.randbelow = randbelow

    def list_sounds(self) -> dict[str, Any]:
        return {"sounds": self.catalogue.list_sounds()}

    def list_music(self) -> dict[str, Any]:
        return {"tracks": self.catalogue.list_tracks()}

    def check_catalogue(self, command: object) -> None:
        """`bad_request` naming `sound` or `track` when the catalogue has no such id."""
        if isinstance(command, PlaySound) and not self.catalogue.has_sound(command.sound):
            raise ProtocolError(ErrorCode.BAD_REQUEST,
                                f"sound: no sound {command.sound!r} (see list_sounds)",
                                field="sound")
        if isinstance(command, PlayMusic) and not self.catalogue.has_track(command.track):
            raise ProtocolError(ErrorCode.BAD_REQUEST,
                                f"track: no track {command.track!r} (see list_music)",
                                field="track")

    async def in_room(self, actor: Actor, room_id: str, command: RoomProp) -> Outcome:
        """Apply a prop to a room; raises `ProtocolError` (nothing changed) when refused."""
        self.check_catalogue(command)
        return await self.rooms.update(actor, room_id, self.room_step(command))

    def room_step(self, command: RoomProp) -> Step:
        """The room change a prop makes, with its random draw (if any) done now."""
        if isinstance(command, SetVoiceEffect):
            effect = command.effect.value
            return lambda room, actor, now: rules.set_voice_effect(room, actor, effect, now)
        if isinstance(command, PlaySound):
            sound = command.sound
            return lambda room, actor, now: rules.play_sound(room, actor, sound, now)
        if isinstance(command, RollDice | DrawCard):
            name, result, reply = self.draw(command)
            return lambda room, actor, now: rules.game(room, actor, name, result, reply, now)
        if isinstance(command, PlayMusic):
            track, loop = command.track, command.loop
            return lambda room, actor, now: rules.play_music(room, actor, track, loop, now)
        if isinstance(command, StopMusic):
            return lambda room, actor, now: rules.stop_music(room, actor, now)
        volume = command.volume
        return lambda room, actor, now: rules.set_music_volume(room, actor, volume, now)

    def draw(self, command: RollDice | DrawCard
             ) -> tuple[str, dict[str, Any], dict[str, Any]]:
        """The game's name, its `game_event` result and the reply: `dice`, `{values}` twice,
        or `card`, `{deck, text}` and `{card: {deck, text}}`."""
        try:
            if isinstance(command, RollDice):
                values = {"values": roll_dice(command.count, self.randbelow)}
                return "dice", values, values
            card = draw_card(command.deck.value, self.randbelow).to_wire()
        except ValueError as exc:
            field = "count" if isinstance(command, RollDice) else "deck"
            raise ProtocolError(ErrorCode.BAD_REQUEST, str(exc), field=field) from None
        return "card", card, {"card": card}

    async def in_call(self, actor: Actor, call_id: str, command: CallProp
                      ) -> tuple[dict[str, Any], list[UserBatch]]:
        """Apply a prop to a call: the reply and the batches to deliver, in order (the call's
        new state, if the effect changed it, then the props event for both parties)."""
        self.check_catalogue(command)
        if self.calls is None:
            raise ProtocolError(ErrorCode.NO_SUCH_CALL, f"no call {call_id!r}", field="call")
        if isinstance(command, SetVoiceEffect):
            return await self._call_effect(actor, call_id, command.effect.value)
        stored = await self.calls.load(call_id)
        call = call_rules.check_party(stored.call if stored else None, call_id, actor.user)
        if isinstance(command, PlaySound):
            data: dict[str, Any] = {"user": actor.user, "sound": command.sound}
            reply: dict[str, Any] = {}
            kind = "sound_played"
        else:
            name, result, reply = self.draw(command)
            data = {"user": actor.user, "name": actor.name, "game": name, "result": result}
            kind = "game_event"
        return reply, [self._to_parties(call.users, call_rules.event(kind, call_id, data))]

    async def _call_effect(self, actor: Actor, call_id: str, effect: str
                           ) -> tuple[dict[str, Any], list[UserBatch]]:
        assert self.calls is not None
        for _ in range(MAX_ATTEMPTS):
            stored = await self.calls.load(call_id)
            call = call_rules.check_party(stored.call if stored else None, call_id, actor.user)
            changed = call_rules.with_effect(call, actor.user, effect)
            batches = []
            if changed is not None:
                try:
                    after = await self.calls.commit(stored, changed, [])
                except Conflict:
                    continue  # the call moved on meanwhile: look again
                batches.append(UserBatch.of_call(after.call, after.version, [], self.node_id))
            told = call_rules.event("voice_effect", call_id,
                                    {"user": actor.user, "effect": effect})
            return {}, [*batches, self._to_parties(call.users, told)]
        raise ProtocolError(ErrorCode.INTERNAL, "the call is too busy; try again")

    @staticmethod
    def _to_parties(users: tuple[str, str], wire: dict[str, Any]) -> UserBatch:
        return UserBatch([UserEvent(wire, Recipients(frozenset(users)))])

    async def music_ended(self, room_id: str, play: int) -> Outcome | None:
        """The media owner's report that play `play` of the room's music ended (ran out, or
        its file could not be read): the music stops; None when the room is gone."""
        try:
            return await self.rooms.update(
                SYSTEM, room_id, lambda room, _, now: rules.music_ended(room, play, now))
        except ProtocolError:
            return None
