"""The wire's shared vocabulary: the bounds PROTOCOL.md sets on fields, and its enums.

Kept apart from the request classes (`protocol.commands_v1`, `protocol.commands_1_1`) that
use them; `protocol.schema` re-exports every name here.
"""

from __future__ import annotations

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
    # Our extension (docs/protocol.md): the users the asker blocks, in no app's graph.
    BLOCKED = "blocked"


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
