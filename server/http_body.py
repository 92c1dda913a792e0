"""A streamed HTTP response on the websocket port.

websockets' `process_request` can only answer with a whole `Response`. For a body that lasts
as long as a room (listen.ogg) or is larger than memory should hold (a recording), the
request's socket is taken from websockets inside `process_request` (`take_over`): the
transport gets a protocol of ours (`HttpBody`), and websockets is left a released stand-in
whose writes go nowhere, then told its connection is lost, so its handshake sends nothing,
its open timeout no longer applies and its handler returns at once. That connection never
becomes a websocket, and never counts as one.

Why not an HTTP server in front (aiohttp): the websocket path, the page and /metrics stay as
they are, and a listener costs one `transport.write` per batch either way (measured in
bench/http_listeners.py, written up in docs/benchmarks.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable, Iterable
from typing import Any

from websockets.asyncio.server import ServerConnection

# A small kernel send buffer for listeners: what a listener does not take waits in our
# buffer, where it is measured (media.listen drops one 5 s behind), not in the kernel's.
LISTENER_SNDBUF = 16 * 1024
# What a client may send after its request before it is cut off (nothing is read).
MAX_IGNORED_BYTES = 64 * 1024


class _Released(asyncio.Transport):
    """What websockets holds once the socket is taken: it writes nowhere, closes nothing."""

    def write(self, data: Any) -> None:
        return None

    def writelines(self, list_of_data: Iterable[Any]) -> None:
        return None

    def is_closing(self) -> bool:
        return True

    def close(self) -> None:
        return None

    def abort(self) -> None:
        return None

    def get_write_buffer_size(self) -> int:
        return 0

    def can_write_eof(self) -> bool:
        return False


class HttpBody(asyncio.Protocol):
    """The body of one streamed response, chunked for HTTP/1.1, close-delimited for 1.0.

    Implements media.listen.ListenerSink. ``on_close`` runs once when the connection is gone
    (the client left, or `finish`/`abort` closed it).
    """

    def __init__(self, transport: asyncio.Transport, *, chunked: bool) -> None:
        self.transport = transport
        self.chunked = chunked
        self.on_close: Callable[[], None] | None = None
        self.closed = False
        self.ignored = 0
        self._head = b""  # status line and headers, written with the first bytes of the body
        self.started = False
        self._paused = False
        self._drained: asyncio.Future[None] | None = None

    # --- asyncio.Protocol ------------------------------------------------------------------

    def connection_lost(self, exc: Exception | None) -> None:
        if self.closed:
            return
        self.closed = True
        self._wake()
        callback, self.on_close = self.on_close, None
        if callback is not None:
            callback()

    def data_received(self, data: bytes) -> None:
        self.ignored += len(data)
        if self.ignored > MAX_IGNORED_BYTES:
            self.transport.abort()

    def eof_received(self) -> bool:
        return True  # a client that half-closes after its request still reads the body

    def pause_writing(self) -> None:
        self._paused = True

    def resume_writing(self) -> None:
        self._paused = False
        self._wake()

    # --- writing ---------------------------------------------------------------------------

    def start(self, status: str, headers: dict[str, str]) -> None:
        """The status line and headers (HTTP/1.1 on the wire; Transfer-Encoding when
        chunked), written with the body's first bytes: until then `refuse` may still answer
        otherwise."""
        lines = [f"HTTP/1.1 {status}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        if self.chunked:
            lines.append("Transfer-Encoding: chunked")
        lines.append("Connection: close")
        self._head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    def refuse(self, status: str, message: str) -> None:
        """A plain-text answer instead of the body, if no byte of it was sent yet."""
        if self.closed:
            return
        if self.started:
            self.transport.abort()
            return
        text = (message + "\n").encode()
        self._head = b""
        self.started = True
        self.transport.write(
            f"HTTP/1.1 {status}\r\nContent-Type: text/plain; charset=utf-8\r\n"
            f"Content-Length: {len(text)}\r\nCache-Control: no-store\r\n"
            f"Connection: close\r\n\r\n".encode("latin-1") + text)
        self.transport.close()

    def send(self, data: bytes) -> None:
        if self.closed or not data:
            return
        if self.chunked:
            data = b"%x\r\n%b\r\n" % (len(data), data)
        if not self.started:
            self.started = True
            data = self._head + data
        self.transport.write(data)

    def backlog(self) -> int:
        return 0 if self.closed else self.transport.get_write_buffer_size()

    def finish(self, data: bytes = b"") -> None:
        """The last bytes, the chunked terminator, then close once all is written."""
        if self.closed:
            return
        self.send(data)
        if not self.started:
            self.started = True
            self.transport.write(self._head)
        if self.chunked:
            self.transport.write(b"0\r\n\r\n")
        self.transport.close()

    def abort(self) -> None:
        if not self.closed:
            self.transport.abort()

    async def drain(self) -> None:
        """Wait until the transport's buffer is below its high-water mark (or closed)."""
        while self._paused and not self.closed:
            if self._drained is None or self._drained.done():
                self._drained = asyncio.get_running_loop().create_future()
            await self._drained
        if self.closed:
            raise ConnectionResetError("the client went away")

    def _wake(self) -> None:
        if self._drained is not None and not self._drained.done():
            self._drained.set_result(None)


def take_over(ws: ServerConnection, *, chunked: bool, small_sndbuf: bool = False) -> HttpBody:
    """The request's socket, taken from websockets (see the module's docstring)."""
    transport = ws.transport
    gone = ws.connection_lost_waiter.done()  # the client left while we looked the room up
    body = HttpBody(transport, chunked=chunked)
    transport.set_protocol(body)
    ws.transport = _Released()
    if not gone:
        ws.connection_lost(None)
    if small_sndbuf:
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, LISTENER_SNDBUF)
    if gone or transport.is_closing():
        body.connection_lost(None)
    return body
