"""A room's props state: each speaker's voice effect and the room's music (PURE).

It is part of the room (`Room.props`), so it lives wherever the room lives (one node's memory,
or Redis for every node), is committed with the room's version, and reaches the room's media
owner with every change, as seats and mutes do: every member sees the same effects and music,
on any node, and a new media owner picks them up from the room. Immutable (replaced, never
changed), so `Room.copy()` shares it.

Sounds, dice and cards are not state: they are events only (`rooms.props`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

NO_EFFECT = "none"
DEFAULT_MUSIC_VOLUME = 0.5


@dataclass(frozen=True, slots=True)
class Music:
    """The room's music. `track` None: nothing plays (`playing` is then False).

    `play` grows with every `play_music`, so the media restarts a track played again and a
    report that a play ended can be told from a newer play (stale: ignored). `started_at` is
    the service's clock at the play: a new media owner resumes at the same point.
    """

    track: str | None = None
    volume: float = DEFAULT_MUSIC_VOLUME
    loop: bool = False
    play: int = 0
    started_at: float = 0.0

    @property
    def playing(self) -> bool:
        return self.track is not None

    def to_wire(self) -> dict[str, Any]:
        """`music_state`'s fields (docs/protocol.md "Props")."""
        return {"track": self.track, "playing": self.playing, "volume": self.volume,
                "loop": self.loop}


@dataclass(frozen=True, slots=True)
class RoomProps:
    """`effects`: user -> effect name, for users whose effect is not `none` (read-only)."""

    effects: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    music: Music = field(default_factory=Music)

    def effect_of(self, user: str) -> str:
        return self.effects.get(user, NO_EFFECT)

    def with_effect(self, user: str, effect: str) -> RoomProps:
        effects = dict(self.effects)
        if effect == NO_EFFECT:
            effects.pop(user, None)
        else:
            effects[user] = effect
        return RoomProps(MappingProxyType(effects), self.music)

    def without(self, user: str) -> RoomProps:
        """The user left the room: their effect goes with them."""
        return self if user not in self.effects else self.with_effect(user, NO_EFFECT)

    def with_music(self, music: Music) -> RoomProps:
        return RoomProps(self.effects, music)

    @property
    def default(self) -> bool:
        return not self.effects and self.music == Music()

    def state_wire(self) -> dict[str, Any]:
        """What a RoomState adds: `effects {user: effect}` (none left out) and `music`."""
        return {"effects": dict(self.effects), "music": self.music.to_wire()}

    def to_dict(self) -> dict[str, Any]:
        m = self.music
        return {"effects": [[user, effect] for user, effect in self.effects.items()],
                "music": [m.track, m.volume, m.loop, m.play, m.started_at]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> RoomProps:
        if not data:
            return EMPTY
        track, volume, loop, play, started_at = data["music"]
        music = Music(None if track is None else str(track), float(volume), bool(loop),
                      int(play), float(started_at))
        effects = {str(user): str(effect) for user, effect in data["effects"]}
        return cls(MappingProxyType(effects), music)


EMPTY = RoomProps()
