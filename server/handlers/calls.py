"""Call verbs: `call`, `answer_call`, `decline_call`, `hangup`, `list_calls`, `webrtc_offer
{call}` (docs/protocol.md "Calls (one to one)"), and a party's comings and goings: the last
connection of a user closing holds them in their calls for the grace; a `hello` of theirs
brings them back.

A call's media is answered by the engine's `offer_call(call, user, sdp)` on this node, or, in
a cluster, by the node owning the call's media (cluster's `offer_call`); a server whose
engine has no call media answers `internal`, after the party and state checks.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from protocol.errors import ErrorCode, ProtocolError
from protocol.schema import AnswerCall, Call, CallOffer, DeclineCall, Hangup, ListCalls
from server.connection import Connection
from server.handlers.offer import spawn_answer
from server.handlers.session import person_of
from server.handlers.table import HandlerTable, Request
from server.tasks import TaskSet
from server.user_delivery import UserDelivery
from services.calls import CallService
from store.user_events import UserBatch

log = logging.getLogger(__name__)

NO_CALL_MEDIA_MESSAGE = "call media is not available on this server"


class CallHandlers:
    def __init__(self, service: CallService, users: UserDelivery, tasks: TaskSet, *,
                 media: Any | None = None, cluster: Any | None = None) -> None:
        self.service = service
        self.users = users
        self.tasks = tasks
        self.media = media
        self.cluster = cluster

    def register(self, table: HandlerTable) -> None:
        table.register(Call, self.call)
        table.register_all((AnswerCall, DeclineCall, Hangup), self.call_command)
        table.register(ListCalls, self.list_calls)
        table.register(CallOffer, self.webrtc_offer)
        table.on_close(self.connection_closed)
        table.on_hello(self.hello)

    async def call(self, request: Request) -> None:
        command: Call = request.command
        reply, batch = await self.service.call(person_of(request.conn), command.user,
                                               command.video)
        request.ok(**reply)
        await self._deliver(batch)

    async def call_command(self, request: Request) -> None:
        reply, batch = await self.service.execute(person_of(request.conn), request.command)
        request.ok(**reply)
        await self._deliver(batch)

    async def list_calls(self, request: Request) -> None:
        assert request.conn.user is not None
        request.ok(calls=await self.service.list_calls(request.conn.user))

    async def webrtc_offer(self, request: Request) -> None:
        conn, command = request.conn, request.command

        async def answer() -> str:
            call = await self.service.check_offer(person_of(conn), command.call)
            assert conn.user is not None
            if self.cluster is not None and hasattr(self.cluster, "offer_call"):
                return await self.cluster.offer_call(call.id, conn.user, command.sdp)
            if self.media is None or not hasattr(self.media, "offer_call"):
                raise ProtocolError(ErrorCode.INTERNAL, NO_CALL_MEDIA_MESSAGE)
            return await self.media.offer_call(call, conn.user, command.sdp)

        spawn_answer(self.tasks, request, answer, name=f"call-offer-{conn.id}", log=log,
                     what=f"webrtc_offer for call {command.call} from {conn.id}")

    # -- comings and goings ----------------------------------------------------------------

    async def connection_closed(self, conn: Connection, rooms: Sequence[str]) -> None:
        if conn.user is not None:
            await self._deliver_all(await self.service.connection_lost(conn.user))

    async def hello(self, conn: Connection, previous: str | None) -> None:
        if previous is not None and previous != conn.user:
            await self._deliver_all(await self.service.connection_lost(previous))
        assert conn.user is not None
        await self._deliver_all(await self.service.connection_back(conn.user))

    async def _deliver_all(self, batches: list[UserBatch]) -> None:
        for batch in batches:
            await self._deliver(batch)

    async def _deliver(self, batch: UserBatch) -> None:
        try:
            await self.users.deliver(batch)
        except Exception:
            # The request was answered (exactly one reply); what failed is ours to log.
            log.exception("delivering call events failed")
