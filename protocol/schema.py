"""The wire vocabulary: enums and one frozen dataclass per request type.

PROTOCOL.md's request tables (version 1 and 1.1), as code. `protocol.validate` turns a
decoded frame into one of these; `rooms`, `calls` and `social` apply them. Field names are
the wire's.

Tables: `REQUEST_TYPES` holds the version 1 verbs, `REQUEST_TYPES_1_1` the verbs 1.1 adds,
`ALL_REQUEST_TYPES` both. `webrtc_offer` has two forms: `WebrtcOffer` (target `room`, as in
version 1) and `CallOffer` (target `call`); `TYPE_OF` maps every class to its wire `type`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

MAX_SEATS = 8
LIVE_SEATS = 1
DEFAULT_AUTO_CHATROOM_AT = 3
TITLE_MAX = 64
NOTE_MAX = 140
CHAT_MAX = 500
USER_MAX = 64
NAME_MAX = 64
LIST_LIMIT_MAX = 100
LIST_LIMIT_DEFAULT = 50
SDP_MAX = 60 * 1024

# Version 1.1 bounds (PROTOCOL.md "Version 1.1").
DEFAULT_APP = "main"
APP_MAX = 32
CITY_MAX = 64
TAGS_MAX = 10
TAG_MAX = 24
BIO_MAX = 140
REASON_MAX = 140
MEMBERS_LIMIT_MAX = 200
MEMBERS_LIMIT_DEFAULT = 100
DICE_MAX = 5


class Role(StrEnum):
    HOST = "host"
    ADMIN = "admin"
    AUDIENCE = "audience"


class Mode(StrEnum):
    LIVE = "live"
    CHATROOM = "chatroom"


class SeatMode(StrEnum):
    APPLY = "apply"
    FREE = "free"


class Which(StrEnum):
    """Which list `list_follows` returns."""

    FOLLOWING = "following"
    FOLLOWERS = "followers"
    FRIENDS = "friends"


class CityChoice(StrEnum):
    """`match_join`'s city filter: `same` is a filter, `any` only a preference."""

    SAME = "same"
    ANY = "any"


class Effect(StrEnum):
    NONE = "none"
    PITCH_UP = "pitch_up"
    PITCH_DOWN = "pitch_down"
    ROBOT = "robot"
    ECHO = "echo"


class Deck(StrEnum):
    TRUTH = "truth"
    DARE = "dare"
    ICEBREAKER = "icebreaker"


class TargetKind(StrEnum):
    """What a prop acts on: a room or a call (the wire field's name)."""

    ROOM = "room"
    CALL = "call"


@dataclass(frozen=True, slots=True)
class Hello:
    """`app`, `verified` and `city` are taken as given only in development mode; with a
    secret they come from the token and these fields are ignored."""

    token: str | None = None
    user: str | None = None
    name: str | None = None
    app: str = DEFAULT_APP
    verified: bool = False
    city: str | None = None


@dataclass(frozen=True, slots=True)
class CreateRoom:
    title: str
    seats: int = MAX_SEATS
    seat_mode: SeatMode = SeatMode.APPLY
    auto_chatroom_at: int = DEFAULT_AUTO_CHATROOM_AT


@dataclass(frozen=True, slots=True)
class ListRooms:
    limit: int = LIST_LIMIT_DEFAULT
    cursor: str | None = None


@dataclass(frozen=True, slots=True)
class JoinRoom:
    room: str


@dataclass(frozen=True, slots=True)
class LeaveRoom:
    room: str


@dataclass(frozen=True, slots=True)
class CloseRoom:
    room: str


@dataclass(frozen=True, slots=True)
class RequestMic:
    room: str
    note: str = ""


@dataclass(frozen=True, slots=True)
class CancelMicRequest:
    room: str


@dataclass(frozen=True, slots=True)
class AcceptMic:
    room: str
    user: str
    seat: int | None = None


@dataclass(frozen=True, slots=True)
class RejectMic:
    room: str
    user: str


@dataclass(frozen=True, slots=True)
class OpenChatroom:
    room: str


@dataclass(frozen=True, slots=True)
class CloseChatroom:
    room: str


@dataclass(frozen=True, slots=True)
class TakeSeat:
    room: str
    seat: int


@dataclass(frozen=True, slots=True)
class LeaveSeat:
    room: str


@dataclass(frozen=True, slots=True)
class SwitchSeat:
    room: str
    seat: int


@dataclass(frozen=True, slots=True)
class InviteToSeat:
    room: str
    user: str
    seat: int | None = None


@dataclass(frozen=True, slots=True)
class AnswerInvite:
    room: str
    accept: bool


@dataclass(frozen=True, slots=True)
class KickSeat:
    room: str
    seat: int


@dataclass(frozen=True, slots=True)
class LockSeat:
    room: str
    seat: int


@dataclass(frozen=True, slots=True)
class UnlockSeat:
    room: str
    seat: int


@dataclass(frozen=True, slots=True)
class MuteSeat:
    room: str
    seat: int


@dataclass(frozen=True, slots=True)
class UnmuteSeat:
    room: str
    seat: int


@dataclass(frozen=True, slots=True)
class Mute:
    room: str


@dataclass(frozen=True, slots=True)
class Unmute:
    room: str


@dataclass(frozen=True, slots=True)
class KickMember:
    room: str
    user: str
    ban: bool = False


@dataclass(frozen=True, slots=True)
class SetAdmin:
    room: str
    user: str
    admin: bool


@dataclass(frozen=True, slots=True)
class Chat:
    room: str
    text: str


@dataclass(frozen=True, slots=True)
class WebrtcOffer:
    """`webrtc_offer` with target `room` (version 1)."""

    room: str
    sdp: str


# -- version 1.1 --------------------------------------------------------------------------


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


Command = (
    Hello | CreateRoom | ListRooms | JoinRoom | LeaveRoom | CloseRoom | RequestMic
    | CancelMicRequest | AcceptMic | RejectMic | OpenChatroom | CloseChatroom | TakeSeat
    | LeaveSeat | SwitchSeat | InviteToSeat | AnswerInvite | KickSeat | LockSeat | UnlockSeat
    | MuteSeat | UnmuteSeat | Mute | Unmute | KickMember | SetAdmin | Chat | WebrtcOffer
    | CallOffer | ListMembers | SetProfile | GetProfile | Follow | Unfollow | ListFollows
    | Block | Unblock | Call | AnswerCall | DeclineCall | Hangup | ListCalls | MatchJoin
    | MatchLeave | Report | SetVoiceEffect | ListSounds | PlaySound | ListMusic | PlayMusic
    | StopMusic | SetMusicVolume | RollDice | DrawCard | StartRecording | StopRecording
)

# The wire's `type` for each version 1 request.
REQUEST_TYPES: dict[str, type] = {
    "hello": Hello,
    "create_room": CreateRoom,
    "list_rooms": ListRooms,
    "join_room": JoinRoom,
    "leave_room": LeaveRoom,
    "close_room": CloseRoom,
    "request_mic": RequestMic,
    "cancel_mic_request": CancelMicRequest,
    "accept_mic": AcceptMic,
    "reject_mic": RejectMic,
    "open_chatroom": OpenChatroom,
    "close_chatroom": CloseChatroom,
    "take_seat": TakeSeat,
    "leave_seat": LeaveSeat,
    "switch_seat": SwitchSeat,
    "invite_to_seat": InviteToSeat,
    "answer_invite": AnswerInvite,
    "kick_seat": KickSeat,
    "lock_seat": LockSeat,
    "unlock_seat": UnlockSeat,
    "mute_seat": MuteSeat,
    "unmute_seat": UnmuteSeat,
    "mute": Mute,
    "unmute": Unmute,
    "kick_member": KickMember,
    "set_admin": SetAdmin,
    "chat": Chat,
    "webrtc_offer": WebrtcOffer,
}

# The verbs version 1.1 adds (webrtc_offer's call form is in CALL_FORMS).
REQUEST_TYPES_1_1: dict[str, type] = {
    "list_members": ListMembers,
    "set_profile": SetProfile,
    "get_profile": GetProfile,
    "follow": Follow,
    "unfollow": Unfollow,
    "list_follows": ListFollows,
    "block": Block,
    "unblock": Unblock,
    "call": Call,
    "answer_call": AnswerCall,
    "decline_call": DeclineCall,
    "hangup": Hangup,
    "list_calls": ListCalls,
    "match_join": MatchJoin,
    "match_leave": MatchLeave,
    "report": Report,
    "set_voice_effect": SetVoiceEffect,
    "list_sounds": ListSounds,
    "play_sound": PlaySound,
    "list_music": ListMusic,
    "play_music": PlayMusic,
    "stop_music": StopMusic,
    "set_music_volume": SetMusicVolume,
    "roll_dice": RollDice,
    "draw_card": DrawCard,
    "start_recording": StartRecording,
    "stop_recording": StopRecording,
}

ALL_REQUEST_TYPES: dict[str, type] = {**REQUEST_TYPES, **REQUEST_TYPES_1_1}

# Requests whose target is exactly one of `room` or `call` ("target" in PROTOCOL.md).
TARGET_FIELDS: tuple[str, str] = ("room", "call")
TARGETED: frozenset[str] = frozenset(
    {"webrtc_offer", "set_voice_effect", "play_sound", "roll_dice", "draw_card"}
)
# A targeted verb whose `call` form is a class of its own.
CALL_FORMS: dict[str, type] = {"webrtc_offer": CallOffer}

TYPE_OF: dict[type, str] = {
    **{cls: name for name, cls in ALL_REQUEST_TYPES.items()},
    **{cls: name for name, cls in CALL_FORMS.items()},
}
