"""`hello`: who a connection speaks for, in which app (docs/protocol.md "Session", "Identity,
apps and profiles"), and the connection's presence, which `hello` starts and closing ends.

Features that care about a user's comings and goings (calls: a party back in time) register
a hello hook (`HandlerTable.on_hello`); the closer here runs first among the closers (it is
registered first), so later closers see the presence without this connection.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from importlib import metadata

from calls.machine import Actor as Person
from protocol.errors import ErrorCode, ProtocolError
from protocol.schema import Hello
from protocol.tokens import verify_token
from protocol.validate import RequestError
from server.connection import Connection
from server.delivery import Delivery
from server.handlers.table import HandlerTable, Request
from server.ports import PeoplePort
from server.settings import Settings
from store.presence import Presence

log = logging.getLogger(__name__)

try:
    VERSION = metadata.version("voiceroom")
except metadata.PackageNotFoundError:  # running from a bare checkout
    VERSION = "0.1.0"


def person_of(conn: Connection) -> Person:
    """The signed-in user of a connection, as the people and call services see them."""
    assert conn.user is not None
    return Person(conn.user, conn.name or conn.user, conn.app, conn.id)


class SessionHandlers:
    def __init__(self, settings: Settings, delivery: Delivery, people: PeoplePort,
                 presence: Presence) -> None:
        self.settings = settings
        self.delivery = delivery
        self.people = people
        self.presence = presence
        self._hooks: HandlerTable | None = None

    def register(self, table: HandlerTable) -> None:
        table.register(Hello, self.hello)
        table.on_close(self.connection_closed)
        self._hooks = table

    async def hello(self, request: Request) -> None:
        command: Hello = request.command
        conn = request.conn
        if self.settings.secret:
            claims = verify_token(self.settings.secret, command.token or "", time.time())
            user, name = claims.user, claims.name
            app, verified, city = claims.app, claims.verified, claims.city
        else:
            if command.user is None:
                raise RequestError(ErrorCode.BAD_REQUEST,
                                   "field 'user' is required in development mode "
                                   "(1 to 64 characters of A-Z a-z 0-9 _ . -)",
                                   id=request.id, field="user")
            user, name = command.user, command.name or command.user
            app, verified, city = command.app, command.verified, command.city
        if conn.user is not None and conn.user != user and conn.rooms:
            raise ProtocolError(ErrorCode.FORBIDDEN,
                                f"this connection is in a room as {conn.user!r}; "
                                "open a new connection to change user")
        await self.people.signed_in(user, name, verified=verified, city=city or None)
        previous = conn.user
        if previous is not None and (previous, conn.app) != (user, app):
            await self.presence.disconnected(previous, conn.id)
        if conn.user != user:
            self.delivery.identify(conn, user)
        conn.name, conn.app, conn.verified, conn.city = name, app, verified, city or None
        await self.presence.connected(user, conn.id, app)
        request.ok(user=user, name=name, app=app, verified=verified,
                   server={"version": VERSION, "node": self.settings.node_id})
        if self._hooks is not None:
            for hook in self._hooks.hello_hooks:
                try:
                    await hook(conn, previous)
                except Exception:
                    log.exception("after the hello of %s (%s): %s failed", conn.id, user,
                                  getattr(hook, "__qualname__", hook))

    async def connection_closed(self, conn: Connection, rooms: Sequence[str]) -> None:
        if conn.user is not None:
            await self.presence.disconnected(conn.user, conn.id)
