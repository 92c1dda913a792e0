"""The websockets server: one port, `/ws` for clients, plain GETs for the rest (server.http).

Per connection: read frames and hand each to the request dispatcher (server.requests); when
the socket goes, tell the delivery, then each feature's closer (server/handlers/: the rooms
its user is no longer connected to start their grace).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from http import HTTPStatus

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from protocol import codec
from server import http
from server.connection import SEND_BUFFER_LIMIT, Connection
from server.delivery import Delivery
from server.handlers.table import HandlerTable
from server.metrics import CONTENT_TYPE, Exposition, Metrics
from server.ports import MediaPort
from server.requests import VERSION, Requests
from server.settings import Settings
from server.tasks import TaskSet

log = logging.getLogger(__name__)

# (websocket connection, request, decoded path) -> the answer to await, or None: not mine
StreamRoute = Callable[[ServerConnection, Request, str], Awaitable[Response] | None]

MAX_FRAME = codec.MAX_FRAME
# A closing handshake with a client that no longer reads must not hold a shutdown for long.
CLOSE_TIMEOUT = 5.0


class Gateway:
    def __init__(
        self,
        settings: Settings,
        delivery: Delivery,
        handlers: HandlerTable,
        *,
        media: MediaPort | None = None,
        send_limit: int = SEND_BUFFER_LIMIT,
        clock: Callable[[], float] = time.monotonic,
        routes: Sequence[StreamRoute] = (),
    ) -> None:
        self.settings = settings
        self.delivery = delivery
        self.handlers = handlers
        self.media = media
        self.metrics: Metrics = delivery.metrics
        self.tasks: TaskSet = delivery.tasks
        self.requests = Requests(settings, handlers, self.metrics, clock=clock)
        self.send_limit = send_limit
        # Streamed GETs (server/streams.py): each takes its path or passes (None).
        self.routes = list(routes)
        self.connections: set[Connection] = set()
        self.server: Server | None = None
        self.stopping = False
        self.exposition = Exposition(self.metrics, rooms=lambda: len(self.delivery.rooms),
                                     media=lambda: self.media)

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
        await self.tasks.cancel_all()

    # --- HTTP -----------------------------------------------------------------------------------

    def _process_request(self, ws: ServerConnection,
                         request: Request) -> Response | Awaitable[Response] | None:
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
            return http.response(HTTPStatus.OK, self.render_metrics(), CONTENT_TYPE)
        for route in self.routes:
            answer = route(ws, request, path)
            if answer is not None:
                return answer
        if path == "/apps":
            # The app policy's names, for the page's sign-in selector (development mode).
            names = sorted(self.settings.apps.apps)
            return http.response(HTTPStatus.OK, json.dumps({"apps": names}), "application/json")
        return http.static_response(self.settings.web_dir, path)

    def render_metrics(self) -> bytes:
        """The Prometheus text format (server.metrics)."""
        return self.exposition.render()

    # --- one connection -------------------------------------------------------------------------

    async def _handle(self, ws: ServerConnection) -> None:
        conn = Connection.new(ws, self.settings.node_id, self.send_limit)
        bucket = self.requests.bucket()
        self.connections.add(conn)
        self.metrics.connections_open += 1
        self.metrics.connections_total += 1
        try:
            async for frame in ws:
                if conn.closing:
                    break
                await self.requests.on_frame(conn, bucket, frame)
        except ConnectionClosed:
            pass
        finally:
            self.connections.discard(conn)
            self.metrics.connections_open -= 1
            for task in list(conn.offers):
                task.cancel()
            await self._connection_closed(conn)

    async def _connection_closed(self, conn: Connection) -> None:
        """Forget the connection, then let each feature act on its going (the rooms its user
        is no longer connected to start their grace)."""
        lost = await self.delivery.connection_closed(conn)
        for closer in self.handlers.closers:
            try:
                await closer(conn, lost)
            except Exception:
                log.exception("closing %s (%s): %s failed", conn.id, conn.user,
                              getattr(closer, "__qualname__", closer))
