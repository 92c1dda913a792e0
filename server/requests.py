"""One client frame at a time: decode, validate into a command, check session and rate,
dispatch, reply in the encoding of the frame answered.

`hello` and `webrtc_offer` are answered here; every room command goes to the room service,
and its outcome, once replied to, to the delivery (which does everything that follows).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from importlib import metadata
from typing import Any

from protocol import codec, messages
from protocol.errors import ErrorCode, ProtocolError
from protocol.ratelimit import TokenBucket
from protocol.schema import TYPE_OF, Command, Hello, ListRooms, WebrtcOffer
from protocol.tokens import verify_token
from protocol.validate import RequestError, parse_id, parse_request
from rooms.values import Actor
from server.connection import Connection, send_all
from server.delivery import Delivery
from server.metrics import Metrics
from server.ports import ClusterPort, MediaPort, RoomsPort
from server.settings import Settings
from server.tasks import TaskSet

log = logging.getLogger(__name__)

NO_MEDIA_MESSAGE = "media is not available on this server"

try:
    VERSION = metadata.version("voiceroom")
except metadata.PackageNotFoundError:  # running from a bare checkout
    VERSION = "0.1.0"


class Requests:
    def __init__(
        self,
        settings: Settings,
        service: RoomsPort,
        delivery: Delivery,
        metrics: Metrics,
        tasks: TaskSet,
        *,
        media: MediaPort | None = None,
        cluster: ClusterPort | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.service = service
        self.delivery = delivery
        self.metrics = metrics
        self.tasks = tasks
        self.media = media
        # With several nodes, the room's media owner answers offers, wherever it runs.
        self.cluster = cluster
        self._clock = clock

    def bucket(self) -> TokenBucket:
        """A new connection's request allowance."""
        return TokenBucket(self.settings.rate, self.settings.burst)

    async def on_frame(self, conn: Connection, bucket: TokenBucket, frame: bytes | str) -> None:
        binary = not isinstance(frame, str)
        if conn.binary is None:
            conn.binary = binary
        rid: int | None = None
        kind = "?"
        try:
            obj = codec.decode(frame)
            rid = parse_id(obj)
            rid, command = parse_request(obj)
            kind = TYPE_OF[type(command)]
            self.metrics.requests[kind] += 1
            if not conn.authenticated and not isinstance(command, Hello):
                raise ProtocolError(ErrorCode.NOT_AUTHENTICATED, "send hello first")
            if not bucket.allow(self._clock()):
                raise ProtocolError(ErrorCode.RATE_LIMITED,
                                    f"more than {self.settings.rate:g} requests a second; "
                                    "slow down")
            await self._dispatch(conn, rid, command, binary)
        except ProtocolError as exc:
            self._reply_error(conn, exc, rid, binary)
        except Exception:
            log.exception("request %s from %s (%s) failed", kind, conn.id, conn.user)
            self._reply_error(conn, ProtocolError(ErrorCode.INTERNAL, "internal server error"),
                              rid, binary)

    async def _dispatch(self, conn: Connection, rid: int, command: Command, binary: bool) -> None:
        if isinstance(command, Hello):
            self._hello(conn, rid, command, binary)
        elif isinstance(command, ListRooms):
            result = await self.service.list_rooms(command.limit, command.cursor)
            self._reply(conn, messages.ok(rid, **result), binary)
        elif isinstance(command, WebrtcOffer):
            # ICE gathering takes a while: the connection keeps serving meanwhile.
            task = self.tasks.spawn(self._offer(conn, rid, command, binary),
                                    name=f"offer-{conn.id}")
            conn.offers.add(task)
            task.add_done_callback(conn.offers.discard)
        else:
            await self._room_command(conn, rid, command, binary)

    def _hello(self, conn: Connection, rid: int, command: Hello, binary: bool) -> None:
        if self.settings.secret:
            claims = verify_token(self.settings.secret, command.token or "", time.time())
            user, name = claims.user, claims.name
        else:
            if command.user is None:
                raise RequestError(ErrorCode.BAD_REQUEST,
                                   "field 'user' is required in development mode "
                                   "(1 to 64 characters of A-Z a-z 0-9 _ . -)",
                                   id=rid, field="user")
            user, name = command.user, command.name or command.user
        if conn.user is not None and conn.user != user and conn.rooms:
            raise ProtocolError(ErrorCode.FORBIDDEN,
                                f"this connection is in a room as {conn.user!r}; "
                                "open a new connection to change user")
        if conn.user != user:
            self.delivery.identify(conn, user)
        conn.name = name
        self._reply(conn, messages.ok(rid, user=user, name=name,
                                      server={"version": VERSION,
                                              "node": self.settings.node_id}), binary)

    async def _room_command(self, conn: Connection, rid: int, command: Command,
                            binary: bool) -> None:
        # Another node's batch for the room may arrive between this command's commit and its
        # reply: the delivery keeps it from before the command runs (see server.delivery).
        room_id = getattr(command, "room", None)  # None: create_room, which names none yet
        request = self.delivery.begin(conn, room_id)
        try:
            outcome = await self.service.execute(actor_of(conn), command)
            self._reply(conn, messages.ok(rid, **outcome.reply), binary)
            try:
                await self.delivery.answered(request, outcome)
            except Exception:
                # The request was answered (exactly one reply); what failed is ours to log.
                log.exception("delivery after %s from %s failed", type(command).__name__,
                              conn.id)
        finally:
            self.delivery.end(request)

    async def _offer(self, conn: Connection, rid: int, command: WebrtcOffer,
                     binary: bool) -> None:
        try:
            # The one load and membership check of an offer; the media answers for that room.
            room = await self.service.check_offer(actor_of(conn), command.room)
            assert conn.user is not None
            if self.cluster is not None:
                answer = await self.cluster.offer(room.id, conn.user, command.sdp)
            elif self.media is None:
                raise ProtocolError(ErrorCode.INTERNAL, NO_MEDIA_MESSAGE)
            else:
                answer = await self.media.offer(room, conn.user, command.sdp)
            self._reply(conn, messages.ok(rid, sdp=answer), binary)
        except ProtocolError as exc:
            self._reply_error(conn, exc, rid, binary)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("webrtc_offer from %s (%s) failed: %s", conn.id, conn.user, exc,
                        exc_info=log.isEnabledFor(logging.DEBUG))
            self._reply_error(conn, ProtocolError(ErrorCode.INTERNAL,
                                                  f"could not answer the offer: {exc}"),
                              rid, binary)

    # --- replies --------------------------------------------------------------------------------

    def _reply(self, conn: Connection, message: Mapping[str, Any], binary: bool) -> None:
        send_all((conn,), codec.encode(dict(message), binary))

    def _reply_error(self, conn: Connection, exc: ProtocolError, rid: int | None,
                     binary: bool) -> None:
        if isinstance(exc, RequestError):
            rid = exc.id
        elif exc.code is ErrorCode.BAD_FRAME:
            rid = None
        message = messages.error(rid, exc.code, exc.message)
        if exc.field is not None:
            message["field"] = exc.field
        self.metrics.errors[exc.code.value] += 1
        send_all((conn,), codec.encode(message, binary))


def actor_of(conn: Connection) -> Actor:
    assert conn.user is not None
    return Actor(conn.user, conn.name or conn.user, conn=conn.id)
