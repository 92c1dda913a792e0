"""The requests version 1.1 adds: people, calls, matching, reports, props and recording.

One frozen dataclass per request type, field names as on the wire; `protocol.schema`
holds the tables that map wire types to these classes and re-exports them.
"""

from __future__ import annotations

from dataclasses import dataclass

from protocol.vocabulary import (
    LIST_LIMIT_DEFAULT,
    MEMBERS_LIMIT_DEFAULT,
    CityChoice,
    Deck,
    Effect,
    TargetKind,
    Which,
)


@dataclass(frozen=True, slots=True)
class CallOffer:
    """`webrtc_offer` with target `call`: a party's media connection to an active call.

    Its own class so that `WebrtcOffer.room` stays a `str` for version 1 code."""

    call: str
    sdp: str


@dataclass(frozen=True, slots=True)
class ListMembers:
    room: str
    limit: int = MEMBERS_LIMIT_DEFAULT
    cursor: str | None = None


@dataclass(frozen=True, slots=True)
class SetProfile:
    """None leaves a field as it is. `city=""` clears the city and `tags=()` the tags;
    a city from the token wins over this one (the server's rule)."""

    city: str | None = None
    tags: tuple[str, ...] | None = None
    bio: str | None = None


@dataclass(frozen=True, slots=True)
class GetProfile:
    user: str


@dataclass(frozen=True, slots=True)
class Follow:
    user: str


@dataclass(frozen=True, slots=True)
class Unfollow:
    user: str


@dataclass(frozen=True, slots=True)
class ListFollows:
    which: Which
    limit: int = LIST_LIMIT_DEFAULT
    cursor: str | None = None


@dataclass(frozen=True, slots=True)
class Block:
    user: str


@dataclass(frozen=True, slots=True)
class Unblock:
    user: str


@dataclass(frozen=True, slots=True)
class Call:
    """`call {user, video?}` (the wire verb is `call`)."""

    user: str
    video: bool = False


@dataclass(frozen=True, slots=True)
class AnswerCall:
    call: str


@dataclass(frozen=True, slots=True)
class DeclineCall:
    call: str


@dataclass(frozen=True, slots=True)
class Hangup:
    call: str


@dataclass(frozen=True, slots=True)
class ListCalls:
    pass


@dataclass(frozen=True, slots=True)
class MatchJoin:
    """`tags=None`: the server uses the profile's tags."""

    city: CityChoice = CityChoice.ANY
    tags: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class MatchLeave:
    pass


@dataclass(frozen=True, slots=True)
class Report:
    user: str
    reason: str


class _Targeted:
    """A prop acting on exactly one of a room or a call (validation guarantees one)."""

    __slots__ = ()
    room: str | None
    call: str | None

    @property
    def target(self) -> tuple[TargetKind, str]:
        """`(TargetKind.ROOM, room id)` or `(TargetKind.CALL, call id)`."""
        if self.room is not None:
            return TargetKind.ROOM, self.room
        assert self.call is not None, "validated commands have exactly one target"
        return TargetKind.CALL, self.call


@dataclass(frozen=True, slots=True)
class SetVoiceEffect(_Targeted):
    effect: Effect
    room: str | None = None
    call: str | None = None


@dataclass(frozen=True, slots=True)
class ListSounds:
    pass


@dataclass(frozen=True, slots=True)
class PlaySound(_Targeted):
    """`sound` is a catalogue id: the server, which owns the catalogue, checks it."""

    sound: str
    room: str | None = None
    call: str | None = None


@dataclass(frozen=True, slots=True)
class ListMusic:
    pass


@dataclass(frozen=True, slots=True)
class PlayMusic:
    """`track` is a catalogue id: the server, which owns the catalogue, checks it."""

    room: str
    track: str
    loop: bool = False


@dataclass(frozen=True, slots=True)
class StopMusic:
    room: str


@dataclass(frozen=True, slots=True)
class SetMusicVolume:
    room: str
    volume: float


@dataclass(frozen=True, slots=True)
class RollDice(_Targeted):
    count: int = 1
    room: str | None = None
    call: str | None = None


@dataclass(frozen=True, slots=True)
class DrawCard(_Targeted):
    deck: Deck
    room: str | None = None
    call: str | None = None


@dataclass(frozen=True, slots=True)
class StartRecording:
    room: str


@dataclass(frozen=True, slots=True)
class StopRecording:
    room: str
