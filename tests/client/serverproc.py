"""A `run_server.py` subprocess for the client tests (sync, so a module can share one),
and a TCP proxy between client and server that a test can cut to drop every socket."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

from server.process import ServerChild, server_child
from server.process import free_port as free_port  # re-exported for the client tests

Server = ServerChild


@contextlib.contextmanager
def run_server(*flags: str, timeout: float = 30.0) -> Iterator[Server]:
    """`python run_server.py --host 127.0.0.1 --port 0 --no-media *flags` until exit."""
    with server_child("--no-media", *flags, timeout=timeout) as server:
        yield server


class Proxy:
    """Forwards 127.0.0.1:`port` to the server; `cut()` drops every connection at once
    (as a network failure would), `stop()` also refuses new ones."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self.accepting = True
        self.connections = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.accepting:
            writer.transport.abort()
            return
        self.connections += 1
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.transport.abort()
            return
        self._writers |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (OSError, asyncio.CancelledError):
                pass
            finally:
                dst.transport.abort()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self._writers -= {writer, up_writer}

    def cut(self) -> None:
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    async def stop(self) -> None:
        self.accepting = False
        self.cut()
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)

    async def resume(self) -> None:
        self.accepting = True
        if self._server is not None and not self._server.is_serving():
            self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
