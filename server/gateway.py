"""The websockets gateway: one port, `/ws` for clients, plain GETs for the rest.

Per connection: decode each frame, validate it into a command, check session and rate, hand
room commands to RoomService, reply in the encoding of the frame answered, then fan the
outcome's events out to this node's connections.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from importlib import metadata
from typing import Any, Protocol

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from protocol import codec, messages
from protocol.errors import ErrorCode, ProtocolError
from protocol.ratelimit import TokenBucket
from protocol.schema import (
    TYPE_OF,
    Command,
    CreateRoom,
    Hello,
    JoinRoom,
    LeaveRoom,
    ListRooms,
    WebrtcOffer,
)
from protocol.tokens import verify_token
from protocol.validate import RequestError, parse_id, parse_request
from rooms.machine import Actor, Event, check_offer
from rooms.model import Room
from server import http
from server.connection import SEND_BUFFER_LIMIT, Connection, send_all
from server.fanout import Fanout
from server.metrics import Metrics, media_metrics
from server.settings import Settings

log = logging.getLogger(__name__)

MAX_FRAME = codec.MAX_FRAME
NO_MEDIA_MESSAGE = "media is not available on this server"
# A closing handshake with a client that no longer reads must not hold a shutdown for long.
CLOSE_TIMEOUT = 5.0

try:
    VERSION = metadata.version("voiceroom")
except metadata.PackageNotFoundError:  # running from a bare checkout
    VERSION = "0.1.0"


class Service(Protocol):
    """What the gateway needs of services.rooms.RoomService."""

    async def execute(self, actor: Any, command: Any) -> Any: ...

    async def list_rooms(self, limit: int, cursor: str | None) -> Any: ...

    async def connection_lost(self, actor: Any, room_id: str) -> Any: ...

    async def get_room(self, room_id: str) -> Any: ...


class Media(Protocol):
    """What the gateway needs of media.engine.MediaEngine (sync or async methods)."""

    def offer(self, room: Any, user: str, sdp: str) -> Any: ...

    def room_changed(self, room: Any) -> Any: ...

    def drop_user(self, room_id: str, user: str) -> Any: ...

    def close_room(self, room_id: str) -> Any: ...

    def close(self) -> Any: ...


@dataclass(eq=False)
class _Joining:
    """A join_room in flight: the batches of its room that arrive before the joiner is
    subscribed, kept to be sent to it after the reply."""

    conn: Connection
    room_id: str
    batches: list[tuple[Sequence[Event], Room | None]] = field(default_factory=list)


class Gateway:
    def __init__(
        self,
        settings: Settings,
        service: Service,
        *,
        media: Media | None = None,
        load_room: Callable[[str], Awaitable[Any]] | None = None,
        send_limit: int = SEND_BUFFER_LIMIT,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.service = service
        self.media = media
        # cluster.cluster.Cluster when nodes share Redis: offers go to the room's media owner,
        # and the node records which members are connected through it (see docs/deployment.md).
        self.cluster: Any | None = None
        self.metrics = Metrics()
        self._load_room = load_room
        self.send_limit = send_limit
        self._clock = clock
        self.fanout = Fanout(codec.encode, self.metrics, _MediaHooks(self), clock=clock)
        self.connections: set[Connection] = set()
        self.server: Server | None = None
        self.stopping = False
        self._tasks: set[asyncio.Task[Any]] = set()
        # Room id -> the joins in flight to it (see _room_command).
        self._joining: dict[str, list[_Joining]] = {}

    # --- lifecycle ------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        assert self.server is not None
        return int(self.server.sockets[0].getsockname()[1])

    @property
    def url(self) -> str:
        host = self.settings.host
        if ":" in host:
            host = f"[{host}]"
        return f"ws://{host}:{self.port}{http.WS_PATH}"

    async def start(self) -> None:
        self.server = await serve(
            self._handle,
            self.settings.host,
            self.settings.port,
            process_request=self._process_request,
            max_size=MAX_FRAME,
            compression=None,
            close_timeout=CLOSE_TIMEOUT,
            server_header=f"voiceroom/{VERSION}",
        )

    async def stop(self) -> None:
        """Refuse new work, close every client with 1001, wait for the handlers."""
        self.stopping = True
        if self.server is not None:
            self.server.close(close_connections=True)
            await self.server.wait_closed()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def spawn(self, coro: Awaitable[Any], name: str | None = None) -> asyncio.Task[Any]:
        """Run a background task owned by the gateway (cancelled at stop, errors logged)."""
        task = asyncio.ensure_future(coro)
        if name:
            task.set_name(name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("background task %s failed", task.get_name(), exc_info=task.exception())

    # --- HTTP -----------------------------------------------------------------------------------

    def _process_request(self, ws: ServerConnection, request: Request) -> Response | None:
        path = http.request_path(request.path)
        if path == http.WS_PATH:
            if self.stopping:
                return http.response(HTTPStatus.SERVICE_UNAVAILABLE, "stopping\n")
            if len(self.connections) >= self.settings.max_connections:
                self.metrics.connections_refused += 1
                return http.response(HTTPStatus.SERVICE_UNAVAILABLE, "too many connections\n")
            return None  # upgrade
        if path == "/healthz":
            if self.stopping:
                return http.response(HTTPStatus.SERVICE_UNAVAILABLE, "stopping\n")
            return http.response(HTTPStatus.OK, "ok\n")
        if path == "/metrics":
            return http.response(HTTPStatus.OK, self.render_metrics(),
                                 "text/plain; version=0.0.4; charset=utf-8")
        return http.static_response(self.settings.web_dir, path)

    def render_metrics(self) -> str:
        return self.metrics.render(rooms=len(self.fanout.rooms),
                                   extra=media_metrics(self.media))

    # --- one connection -------------------------------------------------------------------------

    async def _handle(self, ws: ServerConnection) -> None:
        conn = Connection.new(ws, self.settings.node_id, self.send_limit)
        bucket = TokenBucket(self.settings.rate, self.settings.burst)
        self.connections.add(conn)
        self.metrics.connections_open += 1
        self.metrics.connections_total += 1
        try:
            async for frame in ws:
                if conn.closing:
                    break
                await self._on_frame(conn, bucket, frame)
        except ConnectionClosed:
            pass
        finally:
            self.connections.discard(conn)
            self.metrics.connections_open -= 1
            for task in list(conn.offers):
                task.cancel()
            await self._connection_closed(conn)

    async def _connection_closed(self, conn: Connection) -> None:
        """Rooms the user has no other local connection to see a Disconnect (grace starts)."""
        rooms = list(conn.rooms)
        lost = [room_id for room_id in rooms if not self.fanout.has_other_connection(room_id, conn)]
        self.fanout.remove_connection(conn)
        if conn.user is None:
            return
        actor = _actor(conn)
        for room_id in lost:
            if self.cluster is not None:
                await self.cluster.left(room_id, conn.user)
            try:
                outcome = await self.service.connection_lost(actor, room_id)
            except ProtocolError:
                continue  # the room is gone or the user no longer in it: nothing to hold
            except Exception:
                log.exception("connection_lost(%s, %s) failed", conn.user, room_id)
                continue
            self._deliver_outcome(outcome, room_id)

    async def _on_frame(self, conn: Connection, bucket: TokenBucket, frame: bytes | str) -> None:
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
            self._reply(conn, messages.ok(rid, **_list_result(result)), binary)
        elif isinstance(command, WebrtcOffer):
            # ICE gathering takes a while: the connection keeps serving meanwhile.
            task = self.spawn(self._offer(conn, rid, command, binary), name=f"offer-{conn.id}")
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
            self.fanout.remove_connection(conn)
            conn.user = user
            self.fanout.add_connection(conn)
        conn.name = name
        self._reply(conn, messages.ok(rid, user=user, name=name,
                                      server={"version": VERSION,
                                              "node": self.settings.node_id}), binary)

    async def _room_command(self, conn: Connection, rid: int, command: Command,
                            binary: bool) -> None:
        # With several nodes, another node's batch for the room can arrive between the join's
        # commit and the subscription: it is kept from before the join runs, and sent to the
        # joiner after the reply (nothing lost, nothing before the reply).
        joining = self._start_join(conn, command)
        try:
            outcome = await self.service.execute(_actor(conn), command)
            reply = dict(getattr(outcome, "reply", None) or {})
            self._reply(conn, messages.ok(rid, **reply), binary)
            try:
                await self._after_reply(conn, command, outcome, joining)
            except Exception:
                # The request was answered (exactly one reply); what failed is ours to log.
                log.exception("fan-out after %s from %s failed", type(command).__name__,
                              conn.id)
        finally:
            self._end_join(joining)

    async def _after_reply(self, conn: Connection, command: Command, outcome: Any,
                           joining: _Joining | None = None) -> None:
        room = getattr(outcome, "room", None)
        room_id = room.id if room is not None else getattr(command, "room", None)
        # From here to the replay nothing awaits: no batch can slip between the two.
        self._end_join(joining)
        if isinstance(command, CreateRoom | JoinRoom) and room is not None:
            self.fanout.subscribe(room.id, conn, room.version)
        self._deliver_outcome(outcome, room_id)
        if joining is not None and room is not None:
            self._replay(joining, room.version)
        if isinstance(command, JoinRoom) and room is not None:
            self._send_speaking(conn, room.id)
        if isinstance(command, LeaveRoom) and room_id is not None:
            self.fanout.unsubscribe_user(room_id, conn.user or "")
        if self.cluster is not None and room_id is not None and conn.user is not None:
            if isinstance(command, CreateRoom | JoinRoom) and room is not None:
                await self.cluster.joined(room_id, conn.user)
            elif isinstance(command, LeaveRoom):
                await self.cluster.left(room_id, conn.user)

    def _start_join(self, conn: Connection, command: Command) -> _Joining | None:
        """Start keeping the room's batches for a connection about to join it (None: it is
        subscribed already, a re-read, and receives them as they come)."""
        if not isinstance(command, JoinRoom) or command.room in conn.rooms:
            return None
        joining = _Joining(conn, command.room)
        self._joining.setdefault(command.room, []).append(joining)
        return joining

    def _end_join(self, joining: _Joining | None) -> None:
        if joining is None:
            return
        waiting = self._joining.get(joining.room_id)
        if waiting is not None and joining in waiting:
            waiting.remove(joining)
            if not waiting:
                del self._joining[joining.room_id]

    def _replay(self, joining: _Joining, joined_version: int) -> None:
        """Send the joiner the batches that came while it joined, as the fan-out would have.

        A batch of an older room version than the join's came before it: the reply's state
        holds its effect already, so it is left out. Everything else in a batch was done when
        it arrived (other members served, media told); only the joiner's part is left.
        """
        conn, room_id = joining.conn, joining.room_id
        user = conn.user
        audience: Mapping[str, Any] | None = None
        for events, room in joining.batches:
            if room is not None and room.version < joined_version:
                continue
            for event in events:
                if room_id not in conn.rooms or conn.closing:
                    return  # replaced, gone or closed by an earlier event of the replay
                data = event.data
                if event.type == "_joined":
                    if data.get("user") == user and isinstance(data.get("conn"), str):
                        self.fanout.replace_others(
                            room_id, user or "", keep=data["conn"],
                            version=room.version if room is not None else None)
                    continue
                if event.type == "_gone":
                    if data.get("user") == user:
                        self.fanout.unsubscribe_user(room_id, user or "")
                    continue
                if event.internal or (event.to is not None and user not in event.to):
                    continue
                if event.type == "audience_changed":
                    audience = event.wire(room_id)  # only the latest count matters
                    continue
                wire = event.wire(room_id)
                if event.type == "room_state" and room is not None and user is not None:
                    wire["state"] = room.state_for(user)
                self._send_event(conn, wire)
                if event.type == "room_closed":
                    self.fanout.unsubscribe_user(room_id, user or "")
        if audience is not None and room_id in conn.rooms:
            # Through the fan-out's once-a-second limit, like every audience_changed.
            self.fanout._audience(conn, room_id, audience)

    async def _offer(self, conn: Connection, rid: int, command: WebrtcOffer,
                     binary: bool) -> None:
        try:
            room = await self._room_for_offer(conn, command)
            assert conn.user is not None
            if self.cluster is not None:
                # The room's media owner answers, wherever it runs.
                answer = await self.cluster.offer(room.id, conn.user, command.sdp)
            elif self.media is None:
                raise ProtocolError(ErrorCode.INTERNAL, NO_MEDIA_MESSAGE)
            else:
                answer = await _maybe_await(self.media.offer(room, conn.user, command.sdp))
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

    async def _room_for_offer(self, conn: Connection, command: WebrtcOffer) -> Any:
        room = await self._load(command.room)
        check_offer(room, _actor(conn))
        return room

    async def _load(self, room_id: str) -> Any:
        load = self._load_room if self._load_room is not None else self.service.get_room
        return await load(room_id)

    # --- replies and events ---------------------------------------------------------------------

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

    def _send_speaking(self, conn: Connection, room_id: str) -> None:
        """`speaking` reports changes only: a joiner is told who is speaking already."""
        levels = getattr(self.media, "speaking_levels", None)
        if levels is None or room_id not in conn.rooms:
            return
        try:
            current = levels(room_id)
        except Exception:
            log.exception("media speaking_levels failed")
            return
        if current:
            self._send_event(conn, {"type": "speaking", "room": room_id, "levels": current})

    def _send_event(self, conn: Connection, wire: Mapping[str, Any]) -> None:
        delivered, slow = send_all((conn,), codec.encode(dict(wire), conn.events_binary))
        self.metrics.events_delivered += delivered
        self.metrics.slow_clients_closed += slow

    def _deliver_outcome(self, outcome: Any, room_id: str | None) -> None:
        if outcome is None:
            return
        room = getattr(outcome, "room", None)
        events: Sequence[Event] = getattr(outcome, "events", None) or ()
        if room is not None:
            room_id = room.id
        if room_id is None:
            return
        self.deliver(room_id, events, room)

    def deliver(self, room_id: str, events: Sequence[Event], room: Room | None) -> None:
        """Send a batch of a room's events out, then let the media follow the room.

        Events from elsewhere (the sweeper, other nodes) come here too, like a request's.
        """
        for joining in self._joining.get(room_id, ()):
            if events:
                joining.batches.append((events, room))
        try:
            closed = self.fanout.deliver(room_id, events, room) if events else False
        except Exception:
            log.exception("delivering %d events of room %s failed", len(events), room_id)
            closed = False
        if room is not None and not closed and self.media is not None:
            self._media_call(self.media.room_changed, room)

    def on_levels(self, room_id: str, levels: Mapping[str, float]) -> None:
        """MediaEngine's callback: who is speaking how loud (it rate-limits)."""
        self.fanout.levels(room_id, levels)
        if self.cluster is not None:
            # Only the media owner measures levels: members on other nodes hear of them here.
            self.spawn(self.cluster.share_levels(room_id, dict(levels)), name="share-levels")

    def _media_call(self, method: Callable[..., Any], *args: Any) -> None:
        try:
            result = method(*args)
        except Exception:
            log.exception("media %s failed", getattr(method, "__name__", method))
            return
        if isinstance(result, asyncio.Future):
            # The engine's own background work (closing peers): it finishes it, even at stop.
            result.add_done_callback(_log_media_failure)
        elif inspect.isawaitable(result):
            self.spawn(result, name=f"media-{getattr(method, '__name__', 'call')}")


class _MediaHooks:
    """The fan-out's view of the media engine, through the gateway (it may be attached later)."""

    def __init__(self, gateway: Gateway) -> None:
        self._gateway = gateway

    def drop_user(self, room_id: str, user: str) -> None:
        media = self._gateway.media
        if media is not None:
            self._gateway._media_call(media.drop_user, room_id, user)

    def close_room(self, room_id: str) -> None:
        media = self._gateway.media
        if media is not None:
            self._gateway._media_call(media.close_room, room_id)


def _log_media_failure(future: asyncio.Future[Any]) -> None:
    if not future.cancelled() and future.exception() is not None:
        log.error("media task failed", exc_info=future.exception())


def _actor(conn: Connection) -> Actor:
    assert conn.user is not None
    return Actor(conn.user, conn.name or conn.user, conn=conn.id)


def _list_result(result: Any) -> dict[str, Any]:
    if isinstance(result, Mapping):
        return dict(result)
    rooms, cursor = result
    out: dict[str, Any] = {"rooms": list(rooms)}
    if cursor is not None:
        out["cursor"] = cursor
    return out


async def _maybe_await(value: Any) -> Any:
    if inspect.isawaitable(value):
        return await value
    return value
