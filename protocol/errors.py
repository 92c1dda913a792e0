"""Error codes of the wire protocol and the package's root error."""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    BAD_FRAME = "bad_frame"
    BAD_REQUEST = "bad_request"
    UNKNOWN_TYPE = "unknown_type"
    NOT_AUTHENTICATED = "not_authenticated"
    FORBIDDEN = "forbidden"
    NO_SUCH_ROOM = "no_such_room"
    NOT_IN_ROOM = "not_in_room"
    BANNED = "banned"
    ROOM_FULL = "room_full"
    SEATS_FULL = "seats_full"
    SEAT_TAKEN = "seat_taken"
    SEAT_LOCKED = "seat_locked"
    NO_SUCH_SEAT = "no_such_seat"
    ALREADY_SEATED = "already_seated"
    NOT_SEATED = "not_seated"
    ALREADY_REQUESTED = "already_requested"
    NO_SUCH_REQUEST = "no_such_request"
    WRONG_MODE = "wrong_mode"
    RATE_LIMITED = "rate_limited"
    INTERNAL = "internal"
    # 1.1
    NO_SUCH_USER = "no_such_user"
    NOT_FRIENDS = "not_friends"
    USER_OFFLINE = "user_offline"
    BUSY = "busy"
    ALREADY_IN_CALL = "already_in_call"
    NO_SUCH_CALL = "no_such_call"
    NOT_VERIFIED = "not_verified"


# PROTOCOL.md: "When several errors apply, the first in this order is given".
# The room and call machines check in this order; the state errors come last. 1.1's codes:
# a missing call or user is a lookup like a missing room; `not_verified` is a permission, next
# to `forbidden`; the call errors follow the version 1 state errors in PROTOCOL.md's order
# ("Errors of `call`, in this order after the v1 ones").
PRECEDENCE: tuple[ErrorCode, ...] = (
    ErrorCode.BAD_REQUEST,
    ErrorCode.NOT_AUTHENTICATED,
    ErrorCode.RATE_LIMITED,
    ErrorCode.NO_SUCH_ROOM,
    ErrorCode.NO_SUCH_CALL,
    ErrorCode.NO_SUCH_USER,
    ErrorCode.BANNED,
    ErrorCode.NOT_IN_ROOM,
    ErrorCode.FORBIDDEN,
    ErrorCode.NOT_VERIFIED,
    ErrorCode.WRONG_MODE,
    ErrorCode.NO_SUCH_SEAT,
    ErrorCode.SEAT_LOCKED,
    ErrorCode.SEAT_TAKEN,
    ErrorCode.SEATS_FULL,
    ErrorCode.ALREADY_SEATED,
    ErrorCode.NOT_SEATED,
    ErrorCode.ALREADY_REQUESTED,
    ErrorCode.NO_SUCH_REQUEST,
    ErrorCode.ALREADY_IN_CALL,
    ErrorCode.NOT_FRIENDS,
    ErrorCode.USER_OFFLINE,
    ErrorCode.BUSY,
)


class ProtocolError(Exception):
    """A request or frame the server refuses; carries the wire error code.

    `field` names the offending field for `bad_request`.
    """

    def __init__(self, code: ErrorCode, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field

    def __repr__(self) -> str:
        return f"ProtocolError({self.code.value!r}, {self.message!r})"
