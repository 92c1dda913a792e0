"""Run real servers for tests, and talk to them the way an outside client does.

- `running_server(**settings)`: the whole stack in this process on a free loopback port (async
  context manager yielding a `RunningServer`: url, settings, app, service, store, gateway).
- `server_process(*flags, env=...)`: `run_server.py` as a subprocess on a free port, ready once
  /healthz answers (server/process.py's launcher; yields a `ServerProcess` with `client()`).
- `WireClient`: a raw websockets client speaking docs/protocol.md through `protocol.codec`
  (MessagePack binary frames by default, JSON text frames with `binary=False`).
- `http_get(host, port, path)`: a bare HTTP/1.1 GET (from server/process.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from protocol import codec
from server import process
from server.app import App, build
from server.process import RUN_SERVER as RUN_SERVER  # re-exported: tests import it from here
from server.process import START_TIMEOUT
from server.process import http_get as http_get  # re-exported: tests import it from here
from server.settings import Settings

REPLY_TIMEOUT = 10.0


# --- in-process -------------------------------------------------------------------------------


@dataclass
class RunningServer:
    app: App

    @property
    def url(self) -> str:
        return self.app.url

    @property
    def host(self) -> str:
        return self.app.settings.host

    @property
    def port(self) -> int:
        return self.app.port

    @property
    def settings(self) -> Settings:
        return self.app.settings

    @property
    def service(self) -> Any:
        return self.app.service

    @property
    def store(self) -> Any:
        return self.app.store

    @property
    def gateway(self) -> Any:
        return self.app.gateway

    @property
    def media(self) -> Any:
        return self.app.media

    async def client(self, user: str | None = None, *, binary: bool = True,
                     name: str | None = None, token: str | None = None) -> WireClient:
        """A connected client; with `user` or `token` it has said hello already."""
        return await WireClient.connect(self.url, user=user, name=name, token=token,
                                        binary=binary)


@contextlib.asynccontextmanager
async def running_server(**overrides: Any) -> AsyncIterator[RunningServer]:
    """The full server stack on 127.0.0.1 and a free port, stopped on exit.

    Keyword arguments are Settings fields (grace=0.2, secret="s", redis=url, ...). Media is
    off unless `media=True` is given: most tests need signaling only and start faster.
    """
    values: dict[str, Any] = {"host": "127.0.0.1", "port": 0, "media": False,
                              "node_id": f"test-{uuid.uuid4().hex[:8]}"}
    values.update(overrides)
    app = await build(Settings(**values))
    await app.start()
    try:
        yield RunningServer(app)
    finally:
        await app.stop()


# --- subprocess (server/process.py's launcher, with a test client at hand) -------------------


@dataclass
class ServerProcess(process.ServerProcess):
    """A `run_server.py` child (see server/process.py) whose `client()` says hello."""

    @classmethod
    def of(cls, child: process.ServerProcess) -> ServerProcess:
        return cls(child.proc, child.url, child.host, child.port, child.transcript)

    async def client(self, user: str | None = None, *, binary: bool = True,
                     name: str | None = None, token: str | None = None) -> WireClient:
        return await WireClient.connect(self.url, user=user, name=name, token=token,
                                        binary=binary)


@contextlib.asynccontextmanager
async def server_process(
    *flags: str,
    env: Mapping[str, str] | None = None,
    host: str = "127.0.0.1",
    timeout: float = START_TIMEOUT,
) -> AsyncIterator[ServerProcess]:
    """`python run_server.py --host HOST --port 0 *flags`, ready when /healthz says ok.

    The port is the one the server reports after binding (no race for a "free" port). On exit
    the process gets SIGTERM, then SIGKILL if it does not stop. `env` is added to os.environ.
    """
    async with process.server_process(*flags, env=env, host=host, timeout=timeout) as child:
        yield ServerProcess.of(child)


# --- a raw protocol client --------------------------------------------------------------------


class ReplyError(Exception):
    """An `error` reply, raised by `WireClient.call`."""

    def __init__(self, reply: Mapping[str, Any]) -> None:
        super().__init__(f"{reply.get('code')}: {reply.get('message')}")
        self.reply = dict(reply)
        self.code = reply.get("code")


@dataclass(frozen=True)
class Received:
    message: dict[str, Any]
    binary: bool
    at: float = 0.0  # the event loop's clock when it arrived


class WireClient:
    """One websocket speaking the wire protocol; replies are matched to requests by id.

    Everything without an id (events, bad_frame/bad_request errors) goes to `inbox` in arrival
    order; `log` keeps every message received, replies included, in order.
    """

    def __init__(self, ws: ClientConnection, *, binary: bool = True) -> None:
        self.ws = ws
        self.binary = binary
        self.user: str | None = None
        self.log: list[Received] = []
        self.inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def connect(cls, url: str, *, user: str | None = None, name: str | None = None,
                      token: str | None = None, binary: bool = True,
                      **kwargs: Any) -> WireClient:
        ws = await connect(url, max_size=None, compression=None, open_timeout=REPLY_TIMEOUT,
                           **kwargs)
        client = cls(ws, binary=binary)
        if user is not None or token is not None:
            params: dict[str, Any] = {}
            if user is not None:
                params["user"] = user
            if name is not None:
                params["name"] = name
            if token is not None:
                params["token"] = token
            reply = await client.call("hello", **params)
            client.user = reply["user"]
        return client

    async def _read(self) -> None:
        try:
            async for frame in self.ws:
                message = codec.decode(frame)
                self.log.append(Received(message, not isinstance(frame, str),
                                         asyncio.get_running_loop().time()))
                rid = message.get("id")
                future = self._pending.pop(rid, None) if isinstance(rid, int) else None
                if future is not None and not future.done():
                    future.set_result(message)
                else:
                    self.inbox.put_nowait(message)
        except ConnectionClosed:
            pass
        finally:
            for future in self._pending.values():
                if not future.done():
                    future.set_exception(ConnectionError("connection closed"))
            self._pending.clear()

    # sending

    def next_id(self) -> int:
        return next(self._ids)

    async def send(self, message: Mapping[str, Any], *, binary: bool | None = None) -> None:
        """Send one map as it is (no id added), in this client's encoding unless told."""
        use_binary = self.binary if binary is None else binary
        await self.ws.send(codec.encode(dict(message), use_binary))

    async def send_raw(self, frame: bytes | str) -> None:
        await self.ws.send(frame)

    async def request(self, type: str, *, binary: bool | None = None,
                      timeout: float = REPLY_TIMEOUT, **params: Any) -> dict[str, Any]:
        """Send a request with a fresh id and return its reply (ok or error)."""
        rid = self.next_id()
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[rid] = future
        await self.send({"id": rid, "type": type, **params}, binary=binary)
        return await asyncio.wait_for(future, timeout)

    async def call(self, type: str, **params: Any) -> dict[str, Any]:
        """Like `request`, but an error reply raises ReplyError."""
        reply = await self.request(type, **params)
        if reply.get("type") != "ok":
            raise ReplyError(reply)
        return reply

    async def error(self, type: str, **params: Any) -> str:
        """Send a request that must fail; return its error code."""
        reply = await self.request(type, **params)
        assert reply.get("type") == "error", f"{type} {params} should fail, got {reply}"
        return str(reply["code"])

    # receiving

    async def next_message(self, timeout: float = REPLY_TIMEOUT) -> dict[str, Any]:
        return await asyncio.wait_for(self.inbox.get(), timeout)

    async def event(self, type: str, timeout: float = REPLY_TIMEOUT,
                    **match: Any) -> dict[str, Any]:
        """The next message of `type` (with the given field values); others before it are
        dropped from the inbox (they stay in `log`)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"no {type} {match} event for {self.user}")
            message = await asyncio.wait_for(self.inbox.get(), remaining)
            if message.get("type") == type and all(message.get(k) == v
                                                   for k, v in match.items()):
                return message

    def drain(self) -> list[dict[str, Any]]:
        """Every message waiting in the inbox now."""
        out = []
        while not self.inbox.empty():
            out.append(self.inbox.get_nowait())
        return out

    async def quiet(self, seconds: float = 0.2) -> list[dict[str, Any]]:
        """Wait a moment, then return what arrived unasked."""
        await asyncio.sleep(seconds)
        return self.drain()

    # closing

    @property
    def close_code(self) -> int | None:
        return self.ws.close_code

    async def closed(self, timeout: float = REPLY_TIMEOUT) -> int | None:
        """Wait until the server closes the connection; its close code."""
        await asyncio.wait_for(asyncio.shield(self._reader), timeout)
        return self.ws.close_code

    async def close(self) -> None:
        await self.ws.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._reader, REPLY_TIMEOUT)

    async def __aenter__(self) -> WireClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


async def close_all(clients: Sequence[WireClient]) -> None:
    await asyncio.gather(*(client.close() for client in clients), return_exceptions=True)


def with_settings(settings: Settings, **changes: Any) -> Settings:
    return replace(settings, **changes)
