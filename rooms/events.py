"""What a committed change tells the rest of the house: `Event`s, typed by `EventType`.

PURE. The machine emits them; the store carries them to other nodes; the server's delivery
turns them into frames, subscriptions, presence and media changes. Wire names are the
members' values (docs/protocol.md "Events"); members starting with `_` are signals between
server parts and never go out.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class EventType(StrEnum):
    # Sent to clients (docs/protocol.md "Events").
    ROOM_STATE = "room_state"
    AUDIENCE_CHANGED = "audience_changed"
    ROLE_CHANGED = "role_changed"
    MEMBER_JOINED = "member_joined"
    MEMBER_LEFT = "member_left"
    MIC_REQUESTED = "mic_requested"
    MIC_REQUEST_CANCELLED = "mic_request_cancelled"
    MIC_ACCEPTED = "mic_accepted"
    MIC_REJECTED = "mic_rejected"
    SEAT_CHANGED = "seat_changed"
    MODE_CHANGED = "mode_changed"
    SEAT_INVITED = "seat_invited"
    SPEAKING = "speaking"
    CHAT_MESSAGE = "chat_message"
    KICKED = "kicked"
    REPLACED = "replaced"
    ROOM_CLOSED = "room_closed"
    # Props (docs/protocol.md "Props"; rooms.props makes them).
    VOICE_EFFECT = "voice_effect"
    SOUND_PLAYED = "sound_played"
    MUSIC_STATE = "music_state"
    GAME_EVENT = "game_event"
    # Recording (docs/protocol.md "Recording"; rooms.recording makes it).
    RECORDING_CHANGED = "recording_changed"
    RECORDING_ERROR = "recording_error"
    # Signals between server parts.
    JOINED = "_joined"
    """`{user, conn}`: that connection now receives the room; the user's others are replaced."""
    GONE = "_gone"
    """`{user}`: no longer a member; their subscription and media go."""

    @property
    def internal(self) -> bool:
        return self.value.startswith("_")


@dataclass(frozen=True, slots=True, init=False)
class Event:
    """An event of a room. `to` is None for every member, else the recipients' user ids.

    A `room_state` event carries no data: the sender adds `state: room.state_for(recipient)`,
    since the queue is shown to the host and admins only. The type may be given by its wire
    name (as it comes back from another node); an unknown name raises ValueError.
    """

    type: EventType
    data: dict[str, Any]
    to: frozenset[str] | None

    def __init__(self, type: EventType | str, data: dict[str, Any] | None = None,
                 to: frozenset[str] | None = None) -> None:
        # Frozen: the fields are set the way dataclasses' own __init__ sets them.
        object.__setattr__(self, "type", EventType(type))
        object.__setattr__(self, "data", {} if data is None else data)
        object.__setattr__(self, "to", to)

    def wire(self, room_id: str) -> dict[str, Any]:
        return {"type": self.type.value, "room": room_id, **self.data}
