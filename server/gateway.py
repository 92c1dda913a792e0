"""The websockets server: one port, `/ws` for clients, plain GETs for the rest (server.http).

Per connection: read frames and hand each to the request dispatcher (server.requests); when
the socket goes, tell the delivery, then each feature's closer (server/handlers/: the rooms
its user is no longer connected to start their grace).
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from http import HTTPStatus

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from protocol import codec
from server import http
from server.connection import CLOSE_TOO_SLOW, SEND_BUFFER_LIMIT, Connection
from server.delivery import Delivery
from server.handlers.table import HandlerTable
from server.health import HEALTH_TIMEOUT, StoreHealth
from server.metrics import CONTENT_TYPE, Exposition, Metrics
from server.ports import MediaPort
from server.requests import SHARE_REFRESH, VERSION, NodeCounts, Requests
from server.settings import Settings
from server.tasks import TaskSet
from services.sweeping import sweep_forever

log = logging.getLogger(__name__)

# (websocket connection, request, decoded path) -> the answer to await, or None: not mine
StreamRoute = Callable[[ServerConnection, Request, str], Awaitable[Response] | None]

MAX_FRAME = codec.MAX_FRAME
# A closing handshake with a client that no longer reads must not hold a shutdown for long.
CLOSE_TIMEOUT = 5.0
# A connection that has not said hello in time is closed with this code (docs/security.md).
CLOSE_NO_HELLO = 1008
CLOSE_GOING_AWAY = 1001
# A client leaving more unread than websockets lets a write wait for blocks every later
# write to it, its keepalive ping included (which then never times out): checked this often
# (seconds), and closed once it has not caught up for STALL_TIMEOUT seconds.
STALL_CHECK = 5.0
STALL_TIMEOUT = 30.0


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
        store_ping: Callable[[], Awaitable[None]] | None = None,
        user_nodes: NodeCounts | None = None,
    ) -> None:
        self.settings = settings
        self.delivery = delivery
        self.handlers = handlers
        self.media = media
        self.metrics: Metrics = delivery.metrics
        self.tasks: TaskSet = delivery.tasks
        self.requests = Requests(settings, handlers, self.metrics, clock=clock,
                                 user_nodes=user_nodes)
        self.send_limit = send_limit
        # Streamed GETs (server/streams.py): each takes its path or passes (None).
        self.routes = list(routes)
        self.connections: set[Connection] = set()
        # Open connections per client address (--max-connections-per-address).
        self.per_address: Counter[str] = Counter()
        self.server: Server | None = None
        self._watch: asyncio.Task[None] | None = None
        # /healthz says 503 while the store does not answer (server.health).
        self.health = (StoreHealth(store_ping, timeout=min(HEALTH_TIMEOUT,
                                                           settings.store_timeout))
                       if store_ping is not None else None)
        self._health_task: asyncio.Task[None] | None = None
        self._shares_task: asyncio.Task[None] | None = None
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
            create_connection=http.HttpGate,
        )
        self._watch = asyncio.create_task(self._watch_stalls(), name="stalled-clients")
        if self.health is not None:
            self._health_task = asyncio.create_task(self.health.run(), name="store-health")
        if self.requests.user_nodes is not None:
            self._shares_task = asyncio.create_task(
                sweep_forever(self.requests.refresh_shares, SHARE_REFRESH, log,
                              "refreshing per-user rate shares failed"),
                name="rate-shares")

    async def stop(self) -> None:
        """Refuse new work, close every client with 1001, wait for the handlers."""
        self.stopping = True
        ours = [t for t in (self._watch, self._health_task, self._shares_task) if t is not None]
        for task in ours:
            task.cancel()
        await asyncio.gather(*ours, return_exceptions=True)
        self._watch = self._health_task = self._shares_task = None
        # Our close first: for a client that no longer reads it ends in an abort, where
        # websockets' own would wait for its buffer to drain.
        for conn in list(self.connections):
            conn.close(CLOSE_GOING_AWAY, "server stopping")
        if self.server is not None:
            self.server.close(close_connections=True)
            await self.server.wait_closed()
        for route in self.routes:  # streamed bodies (recordings) are ours, not websockets'
            close = getattr(route, "close", None)
            if close is not None:
                await close()
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
            cap = self.settings.max_connections_per_address
            if cap and self.per_address[client_address(ws)] >= cap:
                self.metrics.connections_refused += 1
                return http.response(HTTPStatus.TOO_MANY_REQUESTS,
                                     "too many connections from your address\n")
            return None  # upgrade
        if path == "/healthz":
            if self.stopping:
                return http.response(HTTPStatus.SERVICE_UNAVAILABLE, "stopping\n")
            problem = self.health.problem() if self.health is not None else None
            if problem is not None:
                return http.response(HTTPStatus.SERVICE_UNAVAILABLE, problem + "\n")
            return http.response(HTTPStatus.OK, "ok\n")
        if path == "/metrics":
            if not self._may_read_metrics(request):
                return http.response(HTTPStatus.UNAUTHORIZED, "a bearer token is required\n",
                                     extra={"WWW-Authenticate": 'Bearer realm="metrics"'})
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

    def _may_read_metrics(self, request: Request) -> bool:
        token = self.settings.metrics_token
        if token is None:
            return True
        given = request.headers.get("Authorization", "")
        return hmac.compare_digest(given.encode(), f"Bearer {token}".encode())

    def render_metrics(self) -> bytes:
        """The Prometheus text format (server.metrics)."""
        return self.exposition.render()

    # --- one connection -------------------------------------------------------------------------

    async def _handle(self, ws: ServerConnection) -> None:
        conn = Connection.new(ws, self.settings.node_id, self.send_limit)
        allowance = self.requests.allowance()
        address = client_address(ws)
        self.connections.add(conn)
        self.per_address[address] += 1
        self.metrics.connections_open += 1
        self.metrics.connections_total += 1
        # A socket that never says hello must not hold its slot for ever.
        hello_due = asyncio.get_running_loop().call_later(
            self.settings.hello_timeout, self._hello_due, conn)
        try:
            async for frame in ws:
                if conn.closing:
                    # Skipped until the closing handshake ends the loop (a return here would
                    # let websockets close with 1000 before our code goes out).
                    continue
                await self.requests.on_frame(conn, allowance, frame)
        except ConnectionClosed:
            pass
        finally:
            hello_due.cancel()
            self.connections.discard(conn)
            self.per_address[address] -= 1
            if self.per_address[address] <= 0:
                del self.per_address[address]
            self.metrics.connections_open -= 1
            for task in list(conn.offers):
                task.cancel()
            await self._connection_closed(conn)

    async def _watch_stalls(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(STALL_CHECK)
            now = loop.time()
            for conn in list(self.connections):
                if conn.closing:
                    continue
                transport = conn.ws.transport
                if transport.get_write_buffer_size() <= transport.get_write_buffer_limits()[1]:
                    conn.stalled_since = None
                elif conn.stalled_since is None:
                    conn.stalled_since = now
                elif now - conn.stalled_since >= STALL_TIMEOUT:
                    log.warning("closing %s (%s): it has not read its socket for %.0f s",
                                conn.id, conn.user, now - conn.stalled_since)
                    self.metrics.slow_clients_closed += 1
                    conn.close(CLOSE_TOO_SLOW, "too slow")

    def _hello_due(self, conn: Connection) -> None:
        if not conn.authenticated:
            log.debug("closing %s: no hello within %g s", conn.id, self.settings.hello_timeout)
            conn.close(CLOSE_NO_HELLO, "no hello in time")

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


def client_address(ws: ServerConnection) -> str:
    """The client's IP address (the per-address bound counts by it)."""
    peer = ws.remote_address
    if isinstance(peer, tuple) and peer:
        return str(peer[0])
    return str(peer)
