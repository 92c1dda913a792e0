"""An asyncio client for the voice room wire protocol (PROTOCOL.md).

    async with VoiceClient.connect(url, user="ada", name="Ada") as c:
        room = (await c.create_room("Evening talk"))["room"]
        ev = await c.wait_for("mic_requested")

One method per request, each returning the `ok` reply or raising `ClientError`.
Events arrive through `events()` (async iterators, one queue each) and
`wait_for()`. When the socket drops unexpectedly the client reconnects with
backoff, says hello again and re-joins the rooms it was in. Client-side
notices about the connection itself are events whose type starts with `_`:
`_disconnected {code, reason}`, `_reconnected {rooms}`, `_rejoin_failed {room,
code, message}`, `_closed {reason}`.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import random
import re
import time
from collections import deque
from collections.abc import Callable, Generator
from types import TracebackType
from typing import Any

from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from protocol.codec import MAX_FRAME, decode, encode
from protocol.errors import ProtocolError

log = logging.getLogger(__name__)

Event = dict[str, Any]
Reply = dict[str, Any]
# (request type, seconds from send to reply, error code or None)
ReplyHook = Callable[[str, float, str | None], None]

# Close code a server uses when a newer connection of the same user took over.
CLOSE_REPLACED = 4000

DEFAULT_REQUEST_TIMEOUT = 10.0
DEFAULT_HISTORY = 2000
DEFAULT_QUEUE = 10_000
BACKOFF_FIRST = 0.1
BACKOFF_MAX = 5.0
DEFAULT_RECONNECT_FOR = 60.0

_USER_CHARS = re.compile(r"[^A-Za-z0-9_.-]+")


class ClientError(Exception):
    """A request refused by the server (`code` is the wire error code), or a
    client-side failure: `timeout`, `connection_lost`, `closed`, `connect_failed`."""

    def __init__(self, code: str, message: str, reply: Reply | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.reply = reply


def user_from_name(name: str) -> str:
    """A development-mode user id derived from a display name ("Ada L." -> "ada-l.")."""
    slug = _USER_CHARS.sub("-", name.strip().lower()).strip("-")[:64]
    return slug or "user"


class EventStream:
    """One subscriber's queue of events; iterate with `async for`.

    The queue exists from the moment `VoiceClient.events()` returns, so no
    event is missed between subscribing and the first `__anext__`. When full,
    the oldest events are dropped (counted in `dropped`).
    """

    def __init__(self, owner: VoiceClient, maxsize: int) -> None:
        self._owner = owner
        self._queue: deque[Event | None] = deque()
        self._maxsize = maxsize
        self._ready = asyncio.Event()
        self.dropped = 0

    def _put(self, event: Event | None) -> None:
        if event is not None and len(self._queue) >= self._maxsize:
            self._queue.popleft()
            self.dropped += 1
        self._queue.append(event)
        self._ready.set()

    def __aiter__(self) -> EventStream:
        return self

    async def __anext__(self) -> Event:
        while not self._queue:
            self._ready.clear()
            await self._ready.wait()
        event = self._queue.popleft()
        if event is None:  # the client closed for good
            self._queue.append(None)
            raise StopAsyncIteration
        return event

    async def get(self, timeout: float | None = None) -> Event:
        """The next event, or `ClientError("timeout")`; `ClientError("closed")` at the end."""
        try:
            return await asyncio.wait_for(self.__anext__(), timeout)
        except TimeoutError:
            raise ClientError("timeout", f"no event within {timeout} s") from None
        except StopAsyncIteration:
            raise ClientError("closed", "the client is closed") from None

    def close(self) -> None:
        """Unsubscribe: queued events are dropped and the iteration ends."""
        self._owner._streams.discard(self)
        self._queue.clear()
        self._put(None)


class _Connect:
    """What `VoiceClient.connect()` returns: awaitable, or an async context manager."""

    def __init__(self, client: VoiceClient) -> None:
        self._client = client

    def __await__(self) -> Generator[Any, None, VoiceClient]:
        return self._start().__await__()

    async def _start(self) -> VoiceClient:
        await self._client._start()
        return self._client

    async def __aenter__(self) -> VoiceClient:
        return await self._start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._client.close()


class VoiceClient:
    """A signaling connection to one server. Create it with `VoiceClient.connect()`."""

    def __init__(
        self,
        url: str,
        *,
        user: str | None = None,
        name: str | None = None,
        token: str | None = None,
        binary: bool = True,
        reconnect: bool = True,
        reconnect_for: float = DEFAULT_RECONNECT_FOR,
        request_timeout: float = DEFAULT_REQUEST_TIMEOUT,
        history: int = DEFAULT_HISTORY,
        on_reply: ReplyHook | None = None,
        on_event: Callable[[Event], None] | None = None,
    ) -> None:
        if token is None and user is None and name is not None:
            user = user_from_name(name)
        self.url = url
        self.token = token
        self.user = user
        self.name = name
        self.binary = binary
        self.reconnect = reconnect
        self.reconnect_for = reconnect_for
        self.request_timeout = request_timeout
        self.on_reply = on_reply
        self.on_event = on_event
        self.server: dict[str, Any] = {}
        self.rooms: set[str] = set()
        """Rooms this client is a member of (re-joined after a reconnect)."""
        self.reconnects = 0
        self.bad_frames = 0

        self._ws: ClientConnection | None = None
        self._ids = itertools.count(1)
        self._pending: dict[int, tuple[asyncio.Future[Reply], str, float]] = {}
        self._streams: set[EventStream] = set()
        self._history: deque[tuple[int, Event]] = deque(maxlen=max(history, 1))
        self._keep_history = history > 0
        self._consumed: set[int] = set()
        self._waiters: set[asyncio.Event] = set()
        self._seq = 0
        # Set while requests may go out: connected, said hello, re-joined after a drop.
        self._ready = asyncio.Event()
        self._done = asyncio.Event()
        self._closing = False
        self._closed = False
        self._reader: asyncio.Task[None] | None = None
        self._rejoiner: asyncio.Task[None] | None = None

    # ---- life cycle -------------------------------------------------------------------

    @classmethod
    def connect(
        cls,
        url: str,
        *,
        user: str | None = None,
        name: str | None = None,
        token: str | None = None,
        binary: bool = True,
        **options: Any,
    ) -> _Connect:
        """Open the socket and say hello: `async with VoiceClient.connect(...) as c`
        (closes on exit) or `c = await VoiceClient.connect(...)` (call `close()`)."""
        return _Connect(cls(url, user=user, name=name, token=token, binary=binary, **options))

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
            rid = next(self._ids)
            params = {"token": self.token, "user": self.user, "name": self.name}
            frame = {"id": rid, "type": "hello", **{k: v for k, v in params.items() if v}}
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
                    break
                self._dispatch_event(msg)
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
        server = msg.get("server")
        self.server = server if isinstance(server, dict) else {}
        self._ws = ws

    async def close(self, *, leave: bool = False) -> None:
        """Close for good. With `leave`, leave every room first (else the server holds
        a seat for its grace period, as for any dropped connection)."""
        if self._closed:
            return
        if leave and self._ws is not None and not self._closing:
            for room in list(self.rooms):
                with contextlib.suppress(ClientError):
                    await self.leave_room(room)
        self._closing = True
        self._closed = True
        self._ready.clear()
        ws, self._ws = self._ws, None
        if ws is not None:
            with contextlib.suppress(Exception):
                await ws.close()
        for task in (self._rejoiner, self._reader):
            if task is not None and task is not asyncio.current_task():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        self._fail_pending("closed", "the client was closed")
        self._finish("closed by client")

    @property
    def connected(self) -> bool:
        """Connected, said hello and re-joined its rooms: requests go out right away."""
        return self._ready.is_set() and not self._closed

    @property
    def closed(self) -> bool:
        return self._closed

    async def __aenter__(self) -> VoiceClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

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
                await self._give_up(f"connection closed (code {code})")
                return
            if not await self._reconnect():
                await self._give_up("could not reconnect")
                return

    async def _give_up(self, reason: str) -> None:
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
            # The re-joins need this task reading their replies, so they run beside it.
            self._rejoiner = asyncio.create_task(self._rejoin())
            return True
        return False

    async def _rejoin(self) -> None:
        rejoined: list[str] = []
        for room in sorted(self.rooms):
            try:
                reply = await self.request_raw("join_room", {"room": room}, internal=True)
            except ClientError:
                return  # connection lost again: the reader reconnects and re-joins anew
            if reply.get("type") == "ok":
                rejoined.append(room)
            else:
                self.rooms.discard(room)
                self._emit(
                    {"type": "_rejoin_failed", "room": room, "code": reply.get("code"),
                     "message": reply.get("message")}
                )
        self._ready.set()
        self._emit({"type": "_reconnected", "rooms": rejoined})

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
                future, request_type, sent = entry
                code = None if kind == "ok" else str(msg.get("code"))
                if self.on_reply is not None:
                    self.on_reply(request_type, time.perf_counter() - sent, code)
                if not future.done():
                    future.set_result(msg)
            return
        if kind == "error":
            # An error without id: our frame was unreadable or its id was refused.
            self._emit({**msg, "type": "_error"})
            return
        self._dispatch_event(msg)

    def _dispatch_event(self, event: Event) -> None:
        kind = event.get("type")
        room = event.get("room")
        if kind in ("kicked", "room_closed", "replaced") and isinstance(room, str):
            self.rooms.discard(room)
        self._emit(event)

    def _emit(self, event: Event) -> None:
        if self.on_event is not None:
            try:
                self.on_event(event)
            except Exception:
                log.exception("voice client %s: on_event hook failed", self.user)
        self._seq += 1
        if self._keep_history:
            self._history.append((self._seq, event))
        for stream in self._streams:
            stream._put(event)
        for waiter in self._waiters:
            waiter.set()

    def _fail_pending(self, code: str, message: str) -> None:
        pending, self._pending = self._pending, {}
        for future, _, _ in pending.values():
            if not future.done():
                future.set_exception(ClientError(code, message))

    def _finish(self, reason: str) -> None:
        self._emit({"type": "_closed", "reason": reason})
        for stream in list(self._streams):
            stream._put(None)
        self._ready.set()  # wake requests waiting for a reconnect; they see _closed
        self._done.set()

    # ---- events -----------------------------------------------------------------------

    def events(self, maxsize: int = DEFAULT_QUEUE) -> EventStream:
        """Subscribe: every event from now on is queued for this stream."""
        stream = EventStream(self, maxsize)
        if self._closed:
            stream._put(None)
        else:
            self._streams.add(stream)
        return stream

    def mark(self) -> int:
        """A position in the event history; pass it as `wait_for(since=...)`."""
        return self._seq

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
        if not self._keep_history:
            raise RuntimeError("wait_for needs history > 0")
        start = 0 if since is None else since
        deadline = time.monotonic() + timeout
        wake = asyncio.Event()
        self._waiters.add(wake)
        try:
            while True:
                wake.clear()
                for seq, event in self._history:
                    if seq <= start or seq in self._consumed:
                        continue
                    if event.get("type") != type:
                        continue
                    if room is not None and event.get("room") != room:
                        continue
                    if predicate is not None and not predicate(event):
                        continue
                    self._consumed.add(seq)
                    if len(self._consumed) > 4 * len(self._history) + 64:
                        oldest = self._history[0][0] if self._history else self._seq
                        self._consumed = {s for s in self._consumed if s >= oldest}
                    return event
                if self._closed:
                    raise ClientError("closed", f"closed while waiting for {type!r}")
                start = max(start, self._history[-1][0] if self._history else 0)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise ClientError("timeout", f"no {type!r} event within {timeout} s")
                try:
                    await asyncio.wait_for(wake.wait(), remaining)
                except TimeoutError:
                    raise ClientError("timeout", f"no {type!r} event within {timeout} s") from None
        finally:
            self._waiters.discard(wake)

    def history(self, since: int = 0) -> list[Event]:
        """Events kept in the history (the newest `history` of them) after `since`."""
        return [event for seq, event in self._history if seq > since]

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
        self._pending[rid] = (future, type, time.perf_counter())
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
        self._track_rooms(type, params, reply)
        return reply

    async def send_frame(self, frame: bytes | str) -> None:
        """Send a raw frame (for tests of the server's refusals)."""
        if self._ws is None:
            raise ClientError("closed", "not connected")
        await self._ws.send(frame)

    def _track_rooms(self, type: str, params: dict[str, Any], reply: Reply) -> None:
        if reply.get("type") != "ok":
            return
        if type == "create_room":
            state = reply.get("room")
            if isinstance(state, dict) and isinstance(state.get("id"), str):
                self.rooms.add(state["id"])
        elif type == "join_room":
            self.rooms.add(str(params["room"]))
        elif type in ("leave_room", "close_room"):
            self.rooms.discard(str(params["room"]))

    # One method per request type of PROTOCOL.md.

    async def create_room(
        self,
        title: str,
        *,
        seats: int | None = None,
        seat_mode: str | None = None,
        auto_chatroom_at: int | None = None,
    ) -> Reply:
        return await self.request(
            "create_room",
            title=title,
            seats=seats,
            seat_mode=None if seat_mode is None else str(seat_mode),
            auto_chatroom_at=auto_chatroom_at,
        )

    async def list_rooms(self, *, limit: int | None = None, cursor: str | None = None) -> Reply:
        return await self.request("list_rooms", limit=limit, cursor=cursor)

    async def join_room(self, room: str) -> Reply:
        return await self.request("join_room", room=room)

    async def leave_room(self, room: str) -> Reply:
        return await self.request("leave_room", room=room)

    async def close_room(self, room: str) -> Reply:
        return await self.request("close_room", room=room)

    async def request_mic(self, room: str, *, note: str | None = None) -> Reply:
        return await self.request("request_mic", room=room, note=note)

    async def cancel_mic_request(self, room: str) -> Reply:
        return await self.request("cancel_mic_request", room=room)

    async def accept_mic(self, room: str, user: str, *, seat: int | None = None) -> Reply:
        return await self.request("accept_mic", room=room, user=user, seat=seat)

    async def reject_mic(self, room: str, user: str) -> Reply:
        return await self.request("reject_mic", room=room, user=user)

    async def open_chatroom(self, room: str) -> Reply:
        return await self.request("open_chatroom", room=room)

    async def close_chatroom(self, room: str) -> Reply:
        return await self.request("close_chatroom", room=room)

    async def take_seat(self, room: str, seat: int) -> Reply:
        return await self.request("take_seat", room=room, seat=seat)

    async def leave_seat(self, room: str) -> Reply:
        return await self.request("leave_seat", room=room)

    async def switch_seat(self, room: str, seat: int) -> Reply:
        return await self.request("switch_seat", room=room, seat=seat)

    async def invite_to_seat(self, room: str, user: str, *, seat: int | None = None) -> Reply:
        return await self.request("invite_to_seat", room=room, user=user, seat=seat)

    async def answer_invite(self, room: str, accept: bool) -> Reply:
        return await self.request("answer_invite", room=room, accept=accept)

    async def kick_seat(self, room: str, seat: int) -> Reply:
        return await self.request("kick_seat", room=room, seat=seat)

    async def lock_seat(self, room: str, seat: int) -> Reply:
        return await self.request("lock_seat", room=room, seat=seat)

    async def unlock_seat(self, room: str, seat: int) -> Reply:
        return await self.request("unlock_seat", room=room, seat=seat)

    async def mute_seat(self, room: str, seat: int) -> Reply:
        return await self.request("mute_seat", room=room, seat=seat)

    async def unmute_seat(self, room: str, seat: int) -> Reply:
        return await self.request("unmute_seat", room=room, seat=seat)

    async def mute(self, room: str) -> Reply:
        return await self.request("mute", room=room)

    async def unmute(self, room: str) -> Reply:
        return await self.request("unmute", room=room)

    async def kick_member(self, room: str, user: str, *, ban: bool | None = None) -> Reply:
        return await self.request("kick_member", room=room, user=user, ban=ban)

    async def set_admin(self, room: str, user: str, admin: bool) -> Reply:
        return await self.request("set_admin", room=room, user=user, admin=admin)

    async def chat(self, room: str, text: str) -> Reply:
        return await self.request("chat", room=room, text=text)

    async def webrtc_offer(self, room: str, sdp: str) -> Reply:
        return await self.request("webrtc_offer", room=room, sdp=sdp)

    # ---- conveniences -----------------------------------------------------------------

    async def wait_closed(self) -> None:
        """Until the client is closed for good (by `close()` or after giving up)."""
        await self._done.wait()
