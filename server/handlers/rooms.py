"""Room verbs: `list_rooms`, `list_members`, `webrtc_offer {room}`, every room command, and the
grace that starts when a user's last connection to a room closes."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from protocol.errors import ErrorCode, ProtocolError
from protocol.schema import Chat, CreateRoom, ListMembers, ListRooms, WebrtcOffer
from rooms.machine import ROOM_COMMANDS
from rooms.members import list_members
from rooms.model import Room
from rooms.values import Actor
from server.connection import Connection
from server.delivery import Delivery
from server.handlers.offer import spawn_answer
from server.handlers.table import HandlerTable, Request
from server.ports import ClusterPort, MediaPort, RoomsPort
from server.tasks import TaskSet

if TYPE_CHECKING:
    from server.edge import EdgeListeners

log = logging.getLogger(__name__)

NO_MEDIA_MESSAGE = "media is not available on this server"


def actor_of(conn: Connection) -> Actor:
    assert conn.user is not None
    return Actor(conn.user, conn.name or conn.user, conn=conn.id)


class RoomHandlers:
    def __init__(self, service: RoomsPort, delivery: Delivery, tasks: TaskSet, *,
                 media: MediaPort | None = None, cluster: ClusterPort | None = None,
                 edge: EdgeListeners | None = None) -> None:
        self.service = service
        self.delivery = delivery
        self.tasks = tasks
        self.media = media
        # With several nodes, the room's media owner answers offers, wherever it runs; but
        # an audience member's listen-only offer is answered here (server/edge.py).
        self.cluster = cluster
        self.edge = edge

    def register(self, table: HandlerTable) -> None:
        table.register(ListRooms, self.list_rooms)
        table.register(ListMembers, self.list_members)
        table.register(WebrtcOffer, self.webrtc_offer)
        table.register_all((CreateRoom, *sorted(ROOM_COMMANDS, key=lambda c: c.__name__)),
                           self.room_command)
        table.on_close(self.connection_closed)

    async def list_rooms(self, request: Request) -> None:
        command: ListRooms = request.command
        request.ok(**await self.service.list_rooms(command.limit, command.cursor))

    async def list_members(self, request: Request) -> None:
        # Any member may ask (docs/protocol.md "Members of a room"): the offer's check.
        command: ListMembers = request.command
        room = await self.service.check_offer(actor_of(request.conn), command.room)
        request.ok(**list_members(room, command.limit, command.cursor))

    async def room_command(self, request: Request) -> None:
        # Another node's batch for the room may arrive between this command's commit and its
        # reply: the delivery keeps it from before the command runs (see server.delivery).
        conn, command = request.conn, request.command
        room_id = getattr(command, "room", None)  # None: create_room, which names none yet
        if isinstance(command, Chat) and command.room not in conn.rooms:
            # Only the connection that joined speaks in the room (docs/security.md): a user's
            # other sockets cannot multiply their chat. The room's own refusals come first.
            await self.service.check_offer(actor_of(conn), command.room)
            raise ProtocolError(ErrorCode.NOT_IN_ROOM,
                                "this connection has not joined the room; join_room first")
        in_flight = self.delivery.begin(conn, room_id)
        try:
            outcome = await self.service.execute(actor_of(conn), command)
            request.ok(**outcome.reply)
            try:
                await self.delivery.answered(in_flight, outcome)
            except Exception:
                # The request was answered (exactly one reply); what failed is ours to log.
                log.exception("delivery after %s from %s failed", type(command).__name__,
                              conn.id)
        finally:
            self.delivery.end(in_flight)

    async def webrtc_offer(self, request: Request) -> None:
        conn, command = request.conn, request.command
        assert conn.user is not None
        user = conn.user

        async def answer() -> str:
            # A bounded number per user at once (docs/security.md), each with one load and
            # membership check; the media answers for that room.
            async with self.service.offering(user):
                room = await self.service.check_offer(actor_of(conn), command.room)
                if self.cluster is not None:
                    return await self._edge_or_owner(room, user, command.sdp)
                if self.media is None:
                    raise ProtocolError(ErrorCode.INTERNAL, NO_MEDIA_MESSAGE)
                return await self.media.offer(room, user, command.sdp)

        spawn_answer(self.tasks, request, answer, name=f"offer-{conn.id}", log=log,
                     what=f"webrtc_offer from {conn.id} ({user})")

    async def _edge_or_owner(self, room: Room, user: str, sdp: str) -> str:
        assert self.cluster is not None
        if self.edge is not None:
            answer = await self.edge.offer(room, user, sdp)
            if answer is not None:
                return answer
        return await self.cluster.offer(room.id, user, sdp)

    async def connection_closed(self, conn: Connection, rooms: Sequence[str]) -> None:
        """Rooms the user has no other local connection to see a Disconnect (grace starts)."""
        if conn.user is None:
            return
        actor = actor_of(conn)
        for room_id in rooms:
            try:
                outcome = await self.service.connection_lost(actor, room_id)
            except ProtocolError:
                continue  # the room is gone or the user no longer in it: nothing to hold
            except Exception:
                log.exception("connection_lost(%s, %s) failed", conn.user, room_id)
                continue
            await self.delivery.deliver_outcome(room_id, outcome)
