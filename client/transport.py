"""The client's websocket: hello, requests matched to replies by id, reconnection.

`Transport` is the base of `VoiceClient`: it owns the socket and the reader task, hands
events to an `EventLog`, and leaves what a reconnect must restore (rooms re-joined, later
calls) to the verb groups above it (`client/verbs/`), through `_restore`, `_replied` and
`_dispatch_event`.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import random
import time
from collections.abc import Callable
from typing import Any

from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from client.errors import ClientError, Reply
from client.events import DEFAULT_HISTORY, DEFAULT_QUEUE, Event, EventLog, EventStream
from protocol.codec import MAX_FRAME, decode, encode
from protocol.errors import ProtocolError

log = logging.getLogger(__name__)

# (request type, seconds from send to reply, error code or None)
ReplyHook = Callable[[str, float, str | None], None]

# Close code a server uses when a newer connection of the same user took over.
CLOSE_REPLACED = 4000

DEFAULT_REQUEST_TIMEOUT = 10.0
BACKOFF_FIRST = 0.1
BACKOFF_MAX = 5.0
DEFAULT_RECONNECT_FOR = 60.0


class Transport:
    """A signaling connection to one server, without the verbs."""

    def __init__(
        self,
        url: str,
        *,
        user: str | None = None,
        name: str | None = None,
        token: str | None = None,
        app: str | None = None,
        verified: bool | None = None,
        city: str | None = None,
        binary: bool = True,
        reconnect: bool = True,
        reconnect_for: float = DEFAULT_RECONNECT_FOR,
        request_timeout: float = DEFAULT_REQUEST_TIMEOUT,
        history: int = DEFAULT_HISTORY,
        on_reply: ReplyHook | None = None,
        on_event: Callable[[Event], None] | None = None,
    ) -> None:
        self.url = url
        self.token = token
        self.user = user
        self.name = name
        # What hello asks for in development mode (with a token, the token's claims count)...
        self.claims: dict[str, Any] = {"app": app, "verified": verified, "city": city}
        # ... and what the server said: the connection's app, whether the user is verified.
        self.app: str | None = app
        self.verified: bool = bool(verified)
        self.binary = binary
        self.reconnect = reconnect
        self.reconnect_for = reconnect_for
        self.request_timeout = request_timeout
        self.on_reply = on_reply
        self.on_event = on_event
        self.server: dict[str, Any] = {}
        self.reconnects = 0
        self.bad_frames = 0

        self._ws: ClientConnection | None = None
        self._ids = itertools.count(1)
        # Request id -> (its future, type, when sent, parameters).
        self._pending: dict[int, tuple[asyncio.Future[Reply], str, float, dict[str, Any]]] = {}
        self._events = EventLog(history)
        # Set while requests may go out: connected, said hello, restored after a drop.
        self._ready = asyncio.Event()
        self._done = asyncio.Event()
        self._closing = False
        self._closed = False
        self._reader: asyncio.Task[None] | None = None
        self._resumer: asyncio.Task[None] | None = None

    # ---- life cycle -------------------------------------------------------------------

    async def _start(self) -> None:
        try:
            await self._open()
        except ClientError:
            await self.close()
            raise
        self._ready.set()
        self._reader = asyncio.create_task(self._run(), name=f"voiceclient-{self.user}")

    async def _open(self) -> None:
        """Connect and hello; raise ClientError on failure (socket closed again)."""
        try:
            ws = await ws_connect(
                self.url,
                max_size=MAX_FRAME,
                compression=None,  # small frames: deflate costs more CPU than it saves
                proxy=None,
                open_timeout=self.request_timeout,
                ping_interval=20,
                ping_timeout=20,
                close_timeout=2,
            )
        except (OSError, InvalidHandshake, InvalidURI, TimeoutError) as exc:
            raise ClientError("connect_failed", f"cannot connect to {self.url}: {exc}") from exc
        try:
            msg = await self._hello(ws)
        except BaseException as exc:
            with contextlib.suppress(Exception):
                await ws.close()
            if isinstance(exc, ClientError):
                raise
            if isinstance(exc, ConnectionClosed | OSError | TimeoutError):
                raise ClientError("connect_failed", f"hello failed: {exc!r}") from exc
            raise
        self.user = str(msg.get("user", self.user))
        self.name = str(msg.get("name", self.name))
        # Version 1.1 servers say which app the connection belongs to and whether the user
        # is verified; an older server says neither.
        if isinstance(msg.get("app"), str):
            self.app = msg["app"]
        if isinstance(msg.get("verified"), bool):
            self.verified = msg["verified"]
        server = msg.get("server")
        self.server = server if isinstance(server, dict) else {}
        self._ws = ws

    async def _hello(self, ws: ClientConnection) -> Reply:
        """Say hello on a fresh socket; its `ok` reply (events before it are dispatched)."""
        rid = next(self._ids)
        params = {"token": self.token, "user": self.user, "name": self.name, **self.claims}
        frame = {"id": rid, "type": "hello",
                 **{k: v for k, v in params.items() if v is not None and v != ""}}
        await ws.send(encode(frame, self.binary))
        deadline = time.monotonic() + self.request_timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ClientError("timeout", "no reply to hello")
            raw = await asyncio.wait_for(ws.recv(), remaining)
            try:
                msg = decode(raw)
            except ProtocolError:
                self.bad_frames += 1
                continue
            if msg.get("id") == rid or (msg.get("type") == "error" and "id" not in msg):
                if msg.get("type") == "error":
                    raise ClientError(str(msg.get("code")), str(msg.get("message")), msg)
                return msg
            self._dispatch_event(msg)

    async def close(self) -> None:
        """Close for good."""
        if self._closed:
            return
        self._closing = True
        self._closed = True
        self._ready.clear()
        ws, self._ws = self._ws, None
        if ws is not None:
            with contextlib.suppress(Exception):
                await ws.close()
        for task in (self._resumer, self._reader):
            if task is not None and task is not asyncio.current_task():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        self._fail_pending("closed", "the client was closed")
        self._finish("closed by client")

    @property
    def connected(self) -> bool:
        """Connected, said hello and restored its rooms: requests go out right away."""
        return self._ready.is_set() and not self._closed

    @property
    def closed(self) -> bool:
        return self._closed

    async def wait_closed(self) -> None:
        """Until the client is closed for good (by `close()` or after giving up)."""
        await self._done.wait()

    # ---- the reader and reconnection --------------------------------------------------

    async def _run(self) -> None:
        while True:
            ws = self._ws
            assert ws is not None
            try:
                async for raw in ws:
                    try:
                        self._receive(raw)
                    except Exception:
                        # A failing hook must not stop the reader: every reply would hang.
                        log.exception("voice client %s: error handling a frame", self.user)
            except ConnectionClosed:
                pass
            if self._closing:
                return
            code, reason = ws.close_code, ws.close_reason
            self._ws = None
            self._ready.clear()
            self._fail_pending("connection_lost", f"connection lost (code {code})")
            self._emit({"type": "_disconnected", "code": code, "reason": reason})
            if code == CLOSE_REPLACED or not self.reconnect:
                # A newer connection of this user took over: reconnecting would fight it.
                self._give_up(f"connection closed (code {code})")
                return
            if not await self._reconnect():
                self._give_up("could not reconnect")
                return

    def _give_up(self, reason: str) -> None:
        self._closing = True
        self._closed = True
        self._fail_pending("closed", reason)
        self._finish(reason)

    async def _reconnect(self) -> bool:
        deadline = time.monotonic() + self.reconnect_for
        delay = BACKOFF_FIRST
        while not self._closing and time.monotonic() < deadline:
            # Jitter spreads a crowd of clients that lost the same server.
            await asyncio.sleep(delay * random.uniform(0.5, 1.5))
            delay = min(delay * 2, BACKOFF_MAX)
            try:
                await self._open()
            except ClientError as exc:
                if exc.code not in ("connect_failed", "timeout"):
                    return False  # refused hello (e.g. the token expired): retrying won't help
                continue
            self.reconnects += 1
            # Restoring needs this task reading its replies, so it runs beside it.
            self._resumer = asyncio.create_task(self._resume())
            return True
        return False

    async def _resume(self) -> None:
        rooms = await self._restore()
        if rooms is None:
            return  # connection lost again: the reader reconnects and restores anew
        self._ready.set()
        self._emit({"type": "_reconnected", "rooms": rooms})

    async def _restore(self) -> list[str] | None:
        """After a reconnect: ask the server again for what it forgot (the verb groups
        override this). The rooms re-joined, or None when the connection dropped again."""
        return []

    def _receive(self, raw: str | bytes) -> None:
        try:
            msg = decode(raw)
        except ProtocolError:
            self.bad_frames += 1
            return
        kind = msg.get("type")
        rid = msg.get("id")
        if kind in ("ok", "error") and isinstance(rid, int):
            entry = self._pending.pop(rid, None)
            if entry is not None:
                future, request_type, sent, params = entry
                code = None if kind == "ok" else str(msg.get("code"))
                if self.on_reply is not None:
                    self.on_reply(request_type, time.perf_counter() - sent, code)
                # Here, in the order of the wire: an event read after this reply (in the
                # same read of the socket, before the requester resumes) sees its effect.
                try:
                    self._replied(request_type, params, msg)
                except Exception:
                    log.exception("voice client %s: keeping the reply to %s failed", self.user,
                                  request_type)
                if not future.done():
                    future.set_result(msg)
            return
        if kind == "error":
            # An error without id: our frame was unreadable or its id was refused.
            self._emit({**msg, "type": "_error"})
            return
        self._dispatch_event(msg)

    def _dispatch_event(self, event: Event) -> None:
        """An event from the server (the verb groups look at it first)."""
        self._emit(event)

    def _emit(self, event: Event) -> None:
        if self.on_event is not None:
            try:
                self.on_event(event)
            except Exception:
                log.exception("voice client %s: on_event hook failed", self.user)
        self._events.emit(event)

    def _fail_pending(self, code: str, message: str) -> None:
        pending, self._pending = self._pending, {}
        for future, _, _, _ in pending.values():
            if not future.done():
                future.set_exception(ClientError(code, message))

    def _finish(self, reason: str) -> None:
        self._emit({"type": "_closed", "reason": reason})
        self._events.end()
        self._ready.set()  # wake requests waiting for a reconnect; they see _closed
        self._done.set()

    # ---- events -----------------------------------------------------------------------

    def events(self, maxsize: int = DEFAULT_QUEUE) -> EventStream:
        """Subscribe: every event from now on is queued for this stream."""
        return self._events.subscribe(maxsize)

    def mark(self) -> int:
        """A position in the event history; pass it as `wait_for(since=...)`."""
        return self._events.mark()

    async def wait_for(
        self,
        type: str,
        predicate: Callable[[Event], bool] | None = None,
        timeout: float = 5.0,
        *,
        room: str | None = None,
        since: int | None = None,
    ) -> Event:
        """The oldest event of `type` (in `room`, matching `predicate`) that no earlier
        `wait_for` returned, already received (after `since`) or arriving within `timeout`.
        Raises ClientError("timeout"), or ClientError("closed") if the client closes."""
        return await self._events.wait_for(type, predicate, timeout, room=room, since=since)

    # ---- requests ---------------------------------------------------------------------

    async def request(self, type: str, /, **params: Any) -> Reply:
        """Send one request (parameters that are None are left out) and return the `ok`
        reply; an `error` reply raises ClientError with its code and message."""
        frame = {k: v for k, v in params.items() if v is not None}
        reply = await self.request_raw(type, frame)
        if reply.get("type") == "error":
            raise ClientError(str(reply.get("code")), str(reply.get("message")), reply)
        return reply

    async def request_raw(
        self,
        type: str,
        params: dict[str, Any],
        *,
        timeout: float | None = None,
        internal: bool = False,
    ) -> Reply:
        """Send `params` as given under a fresh id; return the reply, ok or error.
        While reconnecting, waits (within `timeout`) until the client is ready again."""
        timeout = self.request_timeout if timeout is None else timeout
        if not internal and not self._ready.is_set():
            try:
                await asyncio.wait_for(self._ready.wait(), timeout)
            except TimeoutError:
                raise ClientError("timeout", f"not connected within {timeout} s") from None
        ws = self._ws
        if self._closed or ws is None:
            raise ClientError("closed", "the client is closed")
        rid = next(self._ids)
        future: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        self._pending[rid] = (future, type, time.perf_counter(), params)
        try:
            await ws.send(encode({**params, "id": rid, "type": type}, self.binary))
        except ConnectionClosed:
            self._pending.pop(rid, None)
            raise ClientError("connection_lost", f"connection lost sending {type!r}") from None
        try:
            reply = await asyncio.wait_for(future, timeout)
        except TimeoutError:
            self._pending.pop(rid, None)
            raise ClientError("timeout", f"no reply to {type!r} within {timeout} s") from None
        return reply

    def _replied(self, type: str, params: dict[str, Any], reply: Reply) -> None:
        """Every reply to a request, for the verb groups to keep their state; called as the
        reply is read, in order with the events around it."""
