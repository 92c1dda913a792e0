"""The wire vocabulary: enums, bounds and one frozen dataclass per request type.

PROTOCOL.md's request tables (version 1 and 1.1), as code. `protocol.validate` turns a
decoded frame into one of these; `rooms`, `calls` and `social` apply them. Field names are
the wire's. The parts live in three modules, re-exported here so that `protocol.schema`
stays the one name to import from: `protocol.vocabulary` (bounds and enums),
`protocol.commands_v1` (version 1's requests) and `protocol.commands_1_1` (1.1's).

Tables: `REQUEST_TYPES` holds the version 1 verbs, `REQUEST_TYPES_1_1` the verbs 1.1 adds,
`ALL_REQUEST_TYPES` both. `webrtc_offer` has two forms: `WebrtcOffer` (target `room`, as in
version 1) and `CallOffer` (target `call`); `TYPE_OF` maps every class to its wire `type`.
"""

from __future__ import annotations

from protocol.commands_1_1 import (
    AnswerCall,
    Block,
    Call,
    CallOffer,
    DeclineCall,
    DrawCard,
    Follow,
    GetProfile,
    Hangup,
    ListCalls,
    ListFollows,
    ListMembers,
    ListMusic,
    ListSounds,
    MatchJoin,
    MatchLeave,
    PlayMusic,
    PlaySound,
    Report,
    RollDice,
    SetMusicVolume,
    SetProfile,
    SetVoiceEffect,
    StartRecording,
    StopMusic,
    StopRecording,
    Unblock,
    Unfollow,
)
from protocol.commands_v1 import (
    AcceptMic,
    AnswerInvite,
    CancelMicRequest,
    Chat,
    CloseChatroom,
    CloseRoom,
    CreateRoom,
    Hello,
    InviteToSeat,
    JoinRoom,
    KickMember,
    KickSeat,
    LeaveRoom,
    LeaveSeat,
    ListRooms,
    LockSeat,
    Mute,
    MuteSeat,
    OpenChatroom,
    RejectMic,
    RequestMic,
    SetAdmin,
    SwitchSeat,
    TakeSeat,
    UnlockSeat,
    Unmute,
    UnmuteSeat,
    WebrtcOffer,
)
from protocol.vocabulary import (
    APP_MAX,
    BIO_MAX,
    CHAT_MAX,
    CITY_MAX,
    DEFAULT_APP,
    DEFAULT_AUTO_CHATROOM_AT,
    DICE_MAX,
    LIST_LIMIT_DEFAULT,
    LIST_LIMIT_MAX,
    LIVE_SEATS,
    MAX_SEATS,
    MEMBERS_LIMIT_DEFAULT,
    MEMBERS_LIMIT_MAX,
    NAME_MAX,
    NOTE_MAX,
    REASON_MAX,
    SDP_MAX,
    TAG_MAX,
    TAGS_MAX,
    TITLE_MAX,
    USER_MAX,
    CityChoice,
    Deck,
    Effect,
    Mode,
    Role,
    SeatMode,
    TargetKind,
    Which,
)

# Every public name of the four modules: this one is where the rest of the code imports from.
__all__ = [
    "ALL_REQUEST_TYPES", "APP_MAX", "BIO_MAX", "CALL_FORMS", "CHAT_MAX", "CITY_MAX",
    "DEFAULT_APP", "DEFAULT_AUTO_CHATROOM_AT", "DICE_MAX", "LIST_LIMIT_DEFAULT",
    "LIST_LIMIT_MAX", "LIVE_SEATS", "MAX_SEATS", "MEMBERS_LIMIT_DEFAULT", "MEMBERS_LIMIT_MAX",
    "NAME_MAX", "NOTE_MAX", "REASON_MAX", "REQUEST_TYPES", "REQUEST_TYPES_1_1", "SDP_MAX",
    "TAGS_MAX", "TAG_MAX", "TARGETED", "TARGET_FIELDS", "TITLE_MAX", "TYPE_OF", "USER_MAX",
    "AcceptMic", "AnswerCall", "AnswerInvite", "Block", "Call", "CallOffer", "CancelMicRequest",
    "Chat", "CityChoice", "CloseChatroom", "CloseRoom", "Command", "CreateRoom", "Deck",
    "DeclineCall", "DrawCard", "Effect", "Follow", "GetProfile", "Hangup", "Hello",
    "InviteToSeat", "JoinRoom", "KickMember", "KickSeat", "LeaveRoom", "LeaveSeat", "ListCalls",
    "ListFollows", "ListMembers", "ListMusic", "ListRooms", "ListSounds", "LockSeat",
    "MatchJoin", "MatchLeave", "Mode", "Mute", "MuteSeat", "OpenChatroom", "PlayMusic",
    "PlaySound", "RejectMic", "Report", "RequestMic", "Role", "RollDice", "SeatMode",
    "SetAdmin", "SetMusicVolume", "SetProfile", "SetVoiceEffect", "StartRecording", "StopMusic",
    "StopRecording", "SwitchSeat", "TakeSeat", "TargetKind", "Unblock", "Unfollow",
    "UnlockSeat", "Unmute", "UnmuteSeat", "WebrtcOffer", "Which",
]

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
