"""The client's one error class."""

from __future__ import annotations

from typing import Any

Reply = dict[str, Any]


class ClientError(Exception):
    """A request refused by the server (`code` is the wire error code), or a
    client-side failure: `timeout`, `connection_lost`, `closed`, `connect_failed`."""

    def __init__(self, code: str, message: str, reply: Reply | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.reply = reply
