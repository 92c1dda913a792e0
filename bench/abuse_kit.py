"""What bench/abuse.py's floods are made of: the target, a websocket spoken by hand (masked
frames, replies counted, no library on the attacker's side, so the bench's own CPU stays
small), a signed-in lean client, and the server's own figures from /metrics."""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from bench.lean_client import LeanClient, masked_frame
from client.connection import ClientError
from protocol import codec


@dataclass
class Ctx:
    url: str
    host: str
    port: int
    redis_pid: int | None = None
    notes: dict[str, Any] = field(default_factory=dict)


class Socket(asyncio.Protocol):
    """A websocket by hand: frames out, replies counted by type or code, close noticed."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.upgraded: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self.replies: Counter[str] = Counter()
        self.closed = asyncio.Event()
        self.close_code: int | None = None

    @classmethod
    async def open(cls, ctx: Ctx, user: str | None = None, *,
                   receive_buffer: int | None = None) -> Socket:
        sock = cls()
        raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if receive_buffer is not None:  # before connecting: the window is set then
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        raw.setblocking(False)
        await asyncio.get_running_loop().sock_connect(raw, (ctx.host, ctx.port))
        await asyncio.get_running_loop().create_connection(lambda: sock, sock=raw)
        assert sock.transport is not None
        key = base64.b64encode(os.urandom(16)).decode()
        path = urlsplit(ctx.url).path
        sock.transport.write(f"GET {path} HTTP/1.1\r\nHost: {ctx.host}:{ctx.port}\r\n"
                             "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                             f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
                             .encode())
        if not await asyncio.wait_for(sock.upgraded, 10):
            raise ClientError("connect_failed", "no upgrade")
        if user is not None:
            sock.send({"id": 1, "type": "hello", "user": user})
        return sock

    def send(self, message: dict[str, Any]) -> None:
        self.frame(codec.encode(message, True))  # type: ignore[arg-type]

    def frame(self, payload: bytes, opcode: int = 0x2) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        self.transport.write(masked_frame(payload, opcode))

    @property
    def port(self) -> int:
        """This end's port (the server sees it as the peer's)."""
        assert self.transport is not None
        return int(self.transport.get_extra_info("sockname")[1])

    @property
    def open_(self) -> bool:
        return not self.closed.is_set()

    async def paced(self) -> None:
        """Wait while the kernel has not taken what was written (the attacker's own memory)."""
        while (self.open_ and self.transport is not None
               and self.transport.get_write_buffer_size() > 256 * 1024):
            await asyncio.sleep(0.005)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if not self.upgraded.done():
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            self.upgraded.set_result(self.buffer.startswith(b"HTTP/1.1 101"))
            del self.buffer[:end + 4]
        buffer, pos = self.buffer, 0
        while len(buffer) - pos >= 2:
            opcode, size, start = buffer[pos] & 0x0F, buffer[pos + 1] & 0x7F, pos + 2
            if size == 126:
                size, start = int.from_bytes(buffer[start:start + 2], "big"), start + 2
            elif size == 127:
                size, start = int.from_bytes(buffer[start:start + 8], "big"), start + 8
            if len(buffer) - start < size:
                break
            payload, pos = bytes(buffer[start:start + size]), start + size
            if opcode in (0x1, 0x2):
                message = codec.decode(payload)
                self.replies[str(message.get("code") or message.get("type"))] += 1
            elif opcode == 0x8 and size >= 2:
                self.close_code = int.from_bytes(payload[:2], "big")
            elif opcode == 0x9:
                self.frame(payload, 0xA)
        del buffer[:pos]

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed.set()
        if not self.upgraded.done():
            self.upgraded.set_result(False)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.abort()


async def lean(ctx: Ctx, user: str, on_event: Callable[[Any], None] | None = None) -> LeanClient:
    return await LeanClient.connect(ctx.url, user, user, on_event or (lambda event: None),
                                    lambda kind, took, code: None)


async def for_seconds(seconds: float, step: Callable[[], Awaitable[None]]) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        await step()


def closed_all(sockets: list[Socket]) -> None:
    for sock in sockets:
        sock.close()


async def scrape(ctx: Ctx) -> dict[str, float]:
    """The server's unlabelled /metrics samples."""
    from prometheus_client.parser import text_string_to_metric_families

    from server.process import http_get

    status, _, body = await http_get(ctx.host, ctx.port, "/metrics")
    if status != 200:
        return {}
    return {sample.name: sample.value
            for family in text_string_to_metric_families(body.decode())
            for sample in family.samples if not sample.labels}


def kernel_send_queue(port: int, peers: set[int] | None = None) -> tuple[int, int]:
    """(bytes, sockets): what the kernel still holds to send from the server's port, orphaned
    sockets included (/proc/net/tcp and tcp6: local port, tx_queue); with `peers`, only to
    those client ports."""
    total = sockets = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table, encoding="ascii") as rows:
                next(rows)
                for row in rows:
                    fields = row.split()
                    if int(fields[1].rsplit(":", 1)[1], 16) != port:
                        continue
                    if peers is not None and int(fields[2].rsplit(":", 1)[1], 16) not in peers:
                        continue
                    queued = int(fields[4].split(":")[0], 16)
                    if queued:
                        total += queued
                        sockets += 1
        except OSError:
            continue
    return total, sockets
