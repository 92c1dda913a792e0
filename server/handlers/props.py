"""Props verbs (docs/protocol.md "Props"): `set_voice_effect`, `list_sounds`, `play_sound`,
`list_music`, `play_music`, `stop_music`, `set_music_volume`, `roll_dice`, `draw_card`.

A prop on a room goes through services.props (checks, draws) and the room's commit; its events
go out through the one delivery like any room command's. A prop on a call goes through
services.props too; its batches go out through the user delivery (to both parties, on any
node). This module also makes the media follow what is not state: a `sound_played` is played
by the node holding the room's (or the call's) media, whichever node it was played on, and a
track the media reports ended stops the room's music.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from protocol.schema import (
    DrawCard,
    ListMusic,
    ListSounds,
    PlayMusic,
    PlaySound,
    RollDice,
    SetMusicVolume,
    SetVoiceEffect,
    StopMusic,
    TargetKind,
)
from rooms.events import Event, EventType
from rooms.model import Room
from server.delivery import Delivery
from server.handlers.rooms import actor_of
from server.handlers.table import HandlerTable, Request
from server.user_delivery import UserDelivery
from services.props import PropsService, RoomProp
from store.user_events import UserBatch

log = logging.getLogger(__name__)

TARGETED = (SetVoiceEffect, PlaySound, RollDice, DrawCard)
ROOM_ONLY = (PlayMusic, StopMusic, SetMusicVolume)


class PropsHandlers:
    def __init__(self, props: PropsService, delivery: Delivery, users: UserDelivery, *,
                 media: Any | None = None) -> None:
        self.props = props
        self.delivery = delivery
        self.users = users
        self.media = media  # media.engine.MediaEngine (plays sounds), or None

    def register(self, table: HandlerTable) -> None:
        table.register(ListSounds, self.list_sounds)
        table.register(ListMusic, self.list_music)
        table.register_all((*TARGETED, *ROOM_ONLY), self.prop)
        self.delivery.followers.append(self.follow)
        self.users.followers.append(self.follow_calls)

    async def list_sounds(self, request: Request) -> None:
        request.ok(**self.props.list_sounds())

    async def list_music(self, request: Request) -> None:
        request.ok(**self.props.list_music())

    async def prop(self, request: Request) -> None:
        command: RoomProp = request.command
        if isinstance(command, TARGETED):
            kind, target = command.target
        else:
            kind, target = TargetKind.ROOM, command.room
        if kind is TargetKind.CALL:
            assert isinstance(command, TARGETED)
            reply, batches = await self.props.in_call(actor_of(request.conn), target, command)
            request.ok(**reply)
            for batch in batches:
                await self.users.deliver(batch)
            return
        conn = request.conn
        in_flight = self.delivery.begin(conn, target)
        try:
            outcome = await self.props.in_room(actor_of(conn), target, command)
            request.ok(**outcome.reply)
            try:
                await self.delivery.answered(in_flight, outcome)
            except Exception:
                log.exception("delivery after %s from %s failed", request.kind, conn.id)
        finally:
            self.delivery.end(in_flight)

    # --- the media follows ---------------------------------------------------------------------

    def follow(self, room_id: str, room: Room | None, events: Sequence[Event]) -> None:
        """A batch of the room's events on this node: the media owner plays its sounds."""
        if self.media is None or room is None:
            return
        for event in events:
            if event.type is EventType.SOUND_PLAYED:
                self.media.play_sound(room_id, str(event.data.get("sound")))

    def follow_calls(self, batch: UserBatch) -> None:
        """A batch for users on this node: the node holding a call's media plays its sounds."""
        if self.media is None:
            return
        for event in batch.events:
            wire = event.wire
            call_id = wire.get("call")
            if wire.get("type") == "sound_played" and isinstance(call_id, str):
                self.media.play_call_sound(call_id, str(wire.get("sound")))

    def music_ended(self, room_id: str, play: int) -> None:
        """The media's report (on the room's media owner): that play of the music ended."""
        self.delivery.tasks.spawn(self._music_ended(room_id, play), name=f"music-{room_id}")

    async def _music_ended(self, room_id: str, play: int) -> None:
        outcome = await self.props.music_ended(room_id, play)
        await self.delivery.deliver_outcome(room_id, outcome)
