"""The package's root error."""

from __future__ import annotations

from protocol.errors import ErrorCode, ProtocolError


class SocialError(ProtocolError):
    """A refused social request (bad follow, bad cursor); nothing changed."""

    def __init__(self, code: ErrorCode, message: str, *, field: str | None = None) -> None:
        super().__init__(code, message, field=field)
