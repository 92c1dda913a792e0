"""The package's errors: `CallError` for refused requests, `PolicyError` for a bad policy file."""

from __future__ import annotations

from protocol.errors import ErrorCode, ProtocolError


class CallError(ProtocolError):
    """A refused call command (a protocol error carrying its wire code); nothing changed."""

    def __init__(self, code: ErrorCode, message: str, *, field: str | None = None) -> None:
        super().__init__(code, message, field=field)


class Stale(CallError):
    """An internal command (a timer, a connection drop) that no longer applies: the call
    moved on since it was scheduled. The server drops it; nothing changed."""

    def __init__(self, message: str) -> None:
        super().__init__(ErrorCode.INTERNAL, message)


class PolicyError(ValueError):
    """The app policy file is unusable; the message is one line saying why (start-up error,
    not a protocol one: the server prints it and exits 2)."""
