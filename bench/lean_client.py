"""A bench client on a bare asyncio connection: the websocket handshake and frames by hand,
msgpack only, replies matched by id, events to a callback. Used by the signaling benches
(bench/signaling.py, bench/redis_seats.py) so that the clients' process stays well below its
core and the figures are the server's.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import os
import struct
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from client.connection import ClientError, Event
from protocol import codec

try:
    from websockets.speedups import apply_mask
except ImportError:  # pure-Python websockets
    from websockets.utils import apply_mask

ReplyHook = Callable[[str, float, str | None], None]
EventHook = Callable[[Event], None]
HANDSHAKE_TIMEOUT = 30.0
REPLY_TIMEOUT = 30.0



def masked_frame(payload: bytes, opcode: int = 0x2) -> bytes:
    """One final client frame (RFC 6455: a client masks every frame)."""
    mask = os.urandom(4)
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
    elif n < 65536:
        head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
    return head + mask + apply_mask(payload, mask)

class LeanClient(asyncio.Protocol):
    """`client.VoiceClient` spends ~55 µs of Python per event it receives (the
    websockets asyncio layer, queues, history); 2,000 of them receiving ~11,000 events a
    second fill a core, and their queueing then shows up as server latency. This one spends a
    few µs, so the clients' process stays well below its core and the figures are the server's.
    Speaks the wire protocol (docs/protocol.md) as any outside client would (masked frames,
    pongs to pings).
    """

    def __init__(self, user: str, on_event: EventHook, on_reply: ReplyHook) -> None:
        self.user = user
        self.on_event = on_event
        self.on_reply = on_reply
        self._transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._upgraded: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._ids = itertools.count(1)
        self._pending: dict[int, tuple[str, float, asyncio.Future[Event]]] = {}

    @classmethod
    async def connect(cls, url: str, user: str, name: str,
                      on_event: EventHook, on_reply: ReplyHook, **hello: Any) -> LeanClient:
        """Connected and signed in; `hello` adds claims (development mode: app, verified,
        city)."""
        parsed = urlsplit(url)
        client = cls(user, on_event, on_reply)
        loop = asyncio.get_running_loop()
        await loop.create_connection(lambda: client, parsed.hostname or "localhost",
                                     parsed.port or 80)
        assert client._transport is not None
        key = base64.b64encode(os.urandom(16)).decode()
        client._transport.write(
            f"GET {parsed.path or '/'} HTTP/1.1\r\nHost: {parsed.netloc}\r\n"
            f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n".encode())
        await asyncio.wait_for(client._upgraded, HANDSHAKE_TIMEOUT)
        await client.request("hello", user=user, name=name, **hello)
        return client

    # requests, as VoiceClient names them
    async def request(self, kind: str, **params: Any) -> Event:
        rid = next(self._ids)
        future: asyncio.Future[Event] = asyncio.get_running_loop().create_future()
        self._pending[rid] = (kind, time.perf_counter(), future)
        frame = codec.encode({"id": rid, "type": kind, **params}, True)
        assert isinstance(frame, bytes)  # binary: msgpack
        self._send(frame)
        reply = await asyncio.wait_for(future, REPLY_TIMEOUT)
        if reply.get("type") == "error":
            raise ClientError(str(reply.get("code")), str(reply.get("message")), reply)
        return reply

    async def create_room(self, title: str, **params: Any) -> Event:
        return await self.request("create_room", title=title, **params)

    async def open_chatroom(self, room: str) -> Event:
        return await self.request("open_chatroom", room=room)

    async def join_room(self, room: str) -> Event:
        return await self.request("join_room", room=room)

    async def chat(self, room: str, text: str) -> Event:
        return await self.request("chat", room=room, text=text)

    async def take_seat(self, room: str, seat: int) -> Event:
        return await self.request("take_seat", room=room, seat=seat)

    async def leave_seat(self, room: str) -> Event:
        return await self.request("leave_seat", room=room)

    async def list_rooms(self, limit: int) -> Event:
        return await self.request("list_rooms", limit=limit)

    async def close(self) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._send(b"\x03\xe8", opcode=0x8)
            self._transport.close()

    def _send(self, payload: bytes, opcode: int = 0x2) -> None:
        assert self._transport is not None
        self._transport.write(masked_frame(payload, opcode))

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        if not self._upgraded.done():
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            if not buffer.startswith(b"HTTP/1.1 101"):
                self._upgraded.set_exception(ClientError("connect_failed", bytes(buffer[:80])
                                                         .decode(errors="replace")))
                return
            del buffer[:end + 4]
            self._upgraded.set_result(None)
        pos, size = 0, len(buffer)
        while size - pos >= 2:
            first, second = buffer[pos], buffer[pos + 1] & 0x7F  # server frames: unmasked
            start = pos + 2
            if second == 126:
                if size - start < 2:
                    break
                second = int.from_bytes(buffer[start:start + 2], "big")
                start += 2
            elif second == 127:
                if size - start < 8:
                    break
                second = int.from_bytes(buffer[start:start + 8], "big")
                start += 8
            if size - start < second:
                break
            payload = bytes(buffer[start:start + second])
            pos = start + second
            opcode = first & 0x0F
            if opcode in (0x1, 0x2):
                self._message(codec.decode(payload))
            elif opcode == 0x9:
                self._send(payload, opcode=0xA)
        del buffer[:pos]

    def _message(self, message: Event) -> None:
        rid = message.get("id")
        if isinstance(rid, int) and message.get("type") in ("ok", "error"):
            pending = self._pending.pop(rid, None)
            if pending is not None:
                kind, started, future = pending
                code = str(message.get("code")) if message.get("type") == "error" else None
                self.on_reply(kind, time.perf_counter() - started, code)
                if not future.done():
                    future.set_result(message)
            return
        self.on_event(message)

    def connection_lost(self, exc: Exception | None) -> None:
        for _, _, future in self._pending.values():
            if not future.done():
                future.set_exception(ClientError("connection_lost", str(exc)))
        self._pending.clear()
        if not self._upgraded.done():
            self._upgraded.set_exception(ClientError("connect_failed", str(exc)))
