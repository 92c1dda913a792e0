"""People verbs: `set_profile`, `get_profile`, `follow`, `unfollow`, `list_follows`, `block`,
`unblock` (docs/protocol.md "Identity, apps and profiles", "Follows, friends and blocks")."""

from __future__ import annotations

import logging

from protocol.schema import (
    Block,
    Follow,
    GetProfile,
    ListFollows,
    SetProfile,
    Unblock,
    Unfollow,
)
from server.handlers.session import person_of
from server.handlers.table import HandlerTable, Request
from server.user_delivery import UserDelivery
from services.people import PeopleService

log = logging.getLogger(__name__)


class PeopleHandlers:
    def __init__(self, service: PeopleService, users: UserDelivery) -> None:
        self.service = service
        self.users = users

    def register(self, table: HandlerTable) -> None:
        table.register(SetProfile, self.set_profile)
        table.register(GetProfile, self.get_profile)
        table.register(Follow, self.follow)
        table.register(Unfollow, self.unfollow)
        table.register(ListFollows, self.list_follows)
        table.register(Block, self.block)
        table.register(Unblock, self.unblock)

    async def set_profile(self, request: Request) -> None:
        command: SetProfile = request.command
        profile = await self.service.set_profile(
            person_of(request.conn), request.conn.city, command.city, command.tags, command.bio)
        request.ok(profile=profile.wire())

    async def get_profile(self, request: Request) -> None:
        command: GetProfile = request.command
        request.ok(profile=await self.service.get_profile(person_of(request.conn),
                                                          command.user))

    async def follow(self, request: Request) -> None:
        command: Follow = request.command
        mutual, batch = await self.service.follow(person_of(request.conn), command.user)
        request.ok(mutual=mutual)
        try:
            await self.users.deliver(batch)
        except Exception:
            log.exception("delivering `followed` failed")

    async def unfollow(self, request: Request) -> None:
        await self.service.unfollow(person_of(request.conn), request.command.user)
        request.ok()

    async def list_follows(self, request: Request) -> None:
        command: ListFollows = request.command
        request.ok(**await self.service.list_follows(person_of(request.conn), command.which,
                                                     command.limit, command.cursor))

    async def block(self, request: Request) -> None:
        await self.service.block(person_of(request.conn), request.command.user)
        request.ok()

    async def unblock(self, request: Request) -> None:
        await self.service.unblock(person_of(request.conn), request.command.user)
        request.ok()
