"""`hello`: who a connection speaks for (docs/protocol.md "Session")."""

from __future__ import annotations

import time
from importlib import metadata

from protocol.errors import ErrorCode, ProtocolError
from protocol.schema import Hello
from protocol.tokens import verify_token
from protocol.validate import RequestError
from server.delivery import Delivery
from server.handlers.table import HandlerTable, Request
from server.settings import Settings

try:
    VERSION = metadata.version("voiceroom")
except metadata.PackageNotFoundError:  # running from a bare checkout
    VERSION = "0.1.0"


class SessionHandlers:
    def __init__(self, settings: Settings, delivery: Delivery) -> None:
        self.settings = settings
        self.delivery = delivery

    def register(self, table: HandlerTable) -> None:
        table.register(Hello, self.hello)

    async def hello(self, request: Request) -> None:
        command: Hello = request.command
        conn = request.conn
        if self.settings.secret:
            claims = verify_token(self.settings.secret, command.token or "", time.time())
            user, name = claims.user, claims.name
        else:
            if command.user is None:
                raise RequestError(ErrorCode.BAD_REQUEST,
                                   "field 'user' is required in development mode "
                                   "(1 to 64 characters of A-Z a-z 0-9 _ . -)",
                                   id=request.id, field="user")
            user, name = command.user, command.name or command.user
        if conn.user is not None and conn.user != user and conn.rooms:
            raise ProtocolError(ErrorCode.FORBIDDEN,
                                f"this connection is in a room as {conn.user!r}; "
                                "open a new connection to change user")
        if conn.user != user:
            self.delivery.identify(conn, user)
        conn.name = name
        request.ok(user=user, name=name,
                   server={"version": VERSION, "node": self.settings.node_id})
