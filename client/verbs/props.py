"""Props verbs (docs/protocol.md "Props"): voice effects, sounds, music, dice and cards.

A prop's target is a room or a call: pass exactly one of `room=` or `call=` (the server
answers `bad_request` otherwise). Music is for rooms only. What others do arrives as events:
`voice_effect`, `sound_played`, `music_state`, `game_event` (a call's carry `call`, its id).
"""

from __future__ import annotations

from client.errors import Reply
from client.transport import Transport

EFFECTS = ("none", "pitch_up", "pitch_down", "robot", "echo")
DECKS = ("truth", "dare", "icebreaker")


class PropsVerbs(Transport):
    async def set_voice_effect(self, effect: str, *, room: str | None = None,
                               call: str | None = None) -> Reply:
        """Your voice through `effect` (`none` takes it off); host or seated, or a party."""
        return await self.request("set_voice_effect", effect=effect, room=room, call=call)

    async def list_sounds(self) -> Reply:
        """`{sounds: [{id, title, seconds}]}`: the server's sounds."""
        return await self.request("list_sounds")

    async def play_sound(self, sound: str, *, room: str | None = None,
                         call: str | None = None) -> Reply:
        """Everyone there hears it once, you too."""
        return await self.request("play_sound", sound=sound, room=room, call=call)

    async def list_music(self) -> Reply:
        """`{tracks: [{id, title, seconds}]}`: the server's music."""
        return await self.request("list_music")

    async def play_music(self, room: str, track: str, *, loop: bool = False) -> Reply:
        return await self.request("play_music", room=room, track=track, loop=loop)

    async def stop_music(self, room: str) -> Reply:
        return await self.request("stop_music", room=room)

    async def set_music_volume(self, room: str, volume: float) -> Reply:
        return await self.request("set_music_volume", room=room, volume=volume)

    async def roll_dice(self, *, room: str | None = None, call: str | None = None,
                        count: int | None = None) -> Reply:
        """`{values: [1-6, ...]}` (`count` 1 to 5, default 1); everyone sees the same."""
        return await self.request("roll_dice", room=room, call=call, count=count)

    async def draw_card(self, deck: str, *, room: str | None = None,
                        call: str | None = None) -> Reply:
        """`{card: {deck, text}}` from `truth`, `dare` or `icebreaker`."""
        return await self.request("draw_card", deck=deck, room=room, call=call)
