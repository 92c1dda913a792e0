"""Version 1's requests: `hello`, the room, seat and chat verbs, and `webrtc_offer` to a room.

One frozen dataclass per request type, field names as on the wire; `protocol.schema`
holds the tables that map wire types to these classes and re-exports them.
"""

from __future__ import annotations

from dataclasses import dataclass

from protocol.vocabulary import (
    DEFAULT_APP,
    DEFAULT_AUTO_CHATROOM_AT,
    LIST_LIMIT_DEFAULT,
    MAX_SEATS,
    SeatMode,
)


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
