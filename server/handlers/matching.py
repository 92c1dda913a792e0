"""Matching verbs: `match_join`, `match_leave`, `report` (docs/protocol.md "Random matching
(連線)"); a user's last connection closing takes them out of the queue. The pairs themselves
are made by the service's loop (services/matching.py), not by a request."""

from __future__ import annotations

from collections.abc import Sequence

from protocol.schema import MatchJoin, MatchLeave, Report
from server.connection import Connection
from server.handlers.session import person_of
from server.handlers.table import HandlerTable, Request
from server.metrics import Metrics
from services.matching import MatchService


class MatchHandlers:
    def __init__(self, service: MatchService, metrics: Metrics) -> None:
        self.service = service
        self.metrics = metrics

    def register(self, table: HandlerTable) -> None:
        table.register(MatchJoin, self.match_join)
        table.register(MatchLeave, self.match_leave)
        table.register(Report, self.report)
        table.on_close(self.connection_closed)
        table.on_hello(self.hello)

    async def match_join(self, request: Request) -> None:
        command: MatchJoin = request.command
        conn = request.conn
        await self.service.join(person_of(conn), verified=conn.verified, city=command.city,
                                tags=command.tags)
        request.ok()

    async def match_leave(self, request: Request) -> None:
        assert request.conn.user is not None
        await self.service.leave(request.conn.user)
        request.ok()

    async def report(self, request: Request) -> None:
        command: Report = request.command
        conn = request.conn
        await self.service.report(person_of(conn), command.user, command.reason,
                                  rooms=sorted(conn.rooms))
        self.metrics.reports += 1
        request.ok()

    async def connection_closed(self, conn: Connection, rooms: Sequence[str]) -> None:
        if conn.user is not None:
            await self.service.connection_closed(conn.user, conn.id)

    async def hello(self, conn: Connection, previous: str | None) -> None:
        # The connection speaks for someone else now: as if the previous user's had closed.
        if previous is not None and previous != conn.user:
            await self.service.connection_closed(previous, conn.id)
