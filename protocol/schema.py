"""The wire vocabulary: enums and one frozen dataclass per request type.

PROTOCOL.md's request table, as code. `protocol.validate` turns a decoded
frame into one of these; `rooms` applies them. Field names are the wire's.
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


@dataclass(frozen=True, slots=True)
class Hello:
    token: str | None = None
    user: str | None = None
    name: str | None = None


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
    room: str
    sdp: str


Command = (
    Hello | CreateRoom | ListRooms | JoinRoom | LeaveRoom | CloseRoom | RequestMic
    | CancelMicRequest | AcceptMic | RejectMic | OpenChatroom | CloseChatroom | TakeSeat
    | LeaveSeat | SwitchSeat | InviteToSeat | AnswerInvite | KickSeat | LockSeat | UnlockSeat
    | MuteSeat | UnmuteSeat | Mute | Unmute | KickMember | SetAdmin | Chat | WebrtcOffer
)

# The wire's `type` for each request.
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
TYPE_OF: dict[type, str] = {cls: name for name, cls in REQUEST_TYPES.items()}
