"""A lean RESP client for the store's hot path: pipelined commands and a subscribed feed.

redis-py costs ~150 µs of Python per command (pool, retry wrapper, timeouts, parser) and a
system call each; these classes write RESP themselves and let hiredis parse the replies.
Used for plain TCP connections (what `Pipeline.for_client` covers); anything else (unix
sockets, TLS) goes through redis-py.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Sequence
from typing import Any

import hiredis
import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from store.lua import Script

# The hot commands' connection: tries (with these pauses) when Redis cannot be reached.
PIPE_RETRIES = (0.05, 0.2, 0.5)
# Seconds a command may take, connecting and retries included (the store passes its own).
DEFAULT_TIMEOUT = 5.0


class Pipeline(asyncio.Protocol):
    """One connection to Redis for the store's hot commands (the load and commit scripts).

    redis-py costs ~150 µs of Python per command (pool, retry wrapper, timeouts, parser) and
    a system call each; here the commands every coroutine issues in one turn of the event loop
    go out in one write, and the replies, which Redis sends in order, resolve them in order
    (hiredis parses). Unreachable Redis: retried as redis-py does; a connection lost with
    commands in flight fails them with redis-py's `ConnectionError`. A command not answered
    within `timeout` seconds fails with redis-py's `TimeoutError`; its reply, if it comes,
    is passed over (replies keep their order), so a Redis that stalls and comes back is used
    again without a reconnect.
    """

    def __init__(self, host: str, port: int, *, db: int = 0, username: str | None = None,
                 password: str | None = None, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.host, self.port, self.db = host, port, db
        self.username, self.password = username, password
        self.timeout = timeout
        self._transport: asyncio.Transport | None = None
        self._connecting: asyncio.Future[None] | None = None
        self._pending: deque[asyncio.Future[Any]] = deque()
        self._out: list[bytes] = []
        self._flush_due = False
        self._reader = hiredis.Reader()
        self._closed = False

    @classmethod
    def for_client(cls, client: aioredis.Redis,
                   timeout: float = DEFAULT_TIMEOUT) -> Pipeline | None:
        """A pipeline to the server the redis-py client talks to; None for what it does not
        cover (unix sockets, TLS): the store then sends through redis-py."""
        pool = client.connection_pool
        kwargs = pool.connection_kwargs
        if pool.connection_class is not aioredis.Connection or "host" not in kwargs:
            return None
        return cls(str(kwargs["host"]), int(kwargs.get("port", 6379)),
                   db=int(kwargs.get("db") or 0), username=kwargs.get("username"),
                   password=kwargs.get("password"), timeout=timeout)

    async def execute(self, *args: Any) -> Any:
        try:
            async with asyncio.timeout(self.timeout):
                return await self._execute(args)
        except TimeoutError:
            raise RedisTimeoutError(f"Redis at {self.host}:{self.port} did not answer within "
                                    f"{self.timeout:g} s") from None

    async def _execute(self, args: Sequence[Any]) -> Any:
        for pause in (*PIPE_RETRIES, None):
            try:
                if self._transport is None or self._connecting is not None:
                    await self._connect()  # (or wait for AUTH / SELECT to go first)
                return await self._send(args)
            except (RedisConnectionError, OSError) as exc:
                if pause is None or self._closed:
                    if isinstance(exc, RedisConnectionError):
                        raise
                    raise RedisConnectionError(f"Redis at {self.host}:{self.port}: {exc}") \
                        from exc
                await asyncio.sleep(pause)
        raise AssertionError("unreachable")

    async def script(self, script: Script, keys: Sequence[str], args: Sequence[Any]) -> Any:
        try:
            return await self.execute("EVALSHA", script.sha, len(keys), *keys, *args)
        except ResponseError as exc:
            if not str(exc).startswith("NOSCRIPT"):
                raise
            # Redis restarted (or flushed its scripts): EVAL runs it and caches it again.
            return await self.execute("EVAL", script.source, len(keys), *keys, *args)

    def feed(self, channel: str) -> RespFeed:
        """A subscription to `channel` on a connection of its own to this server."""
        return RespFeed(self.host, self.port, channel, username=self.username,
                        password=self.password)

    def close(self) -> None:
        self._closed = True
        if self._transport is not None:
            self._transport.close()

    async def _connect(self) -> None:
        if self._closed:
            raise RedisConnectionError("the store is closed")
        if self._connecting is not None:
            await asyncio.shield(self._connecting)
            return
        loop = asyncio.get_running_loop()
        self._connecting = loop.create_future()
        try:
            await loop.create_connection(lambda: self, self.host, self.port)
            hello: list[asyncio.Future[Any]] = []
            if self.password is not None:
                auth = ("AUTH", self.password) if self.username is None else (
                    "AUTH", self.username, self.password)
                hello.append(self._send(auth))
            if self.db:
                hello.append(self._send(("SELECT", self.db)))
            for reply in hello:
                await reply
            self._connecting.set_result(None)
        except BaseException as exc:
            if self._transport is not None:
                self._transport.close()
            # Others waiting on this connect see a failure of theirs, never a cancellation
            # (this one's timeout cancelled it; theirs may still run).
            self._connecting.set_exception(
                RedisConnectionError(f"connecting to Redis at {self.host}:{self.port} failed")
                if isinstance(exc, asyncio.CancelledError) else exc)
            self._connecting.exception()  # retrieved: nobody else may be waiting
            raise
        finally:
            self._connecting = None

    def _send(self, args: Sequence[Any]) -> asyncio.Future[Any]:
        if self._transport is None:
            raise RedisConnectionError(f"not connected to Redis at {self.host}:{self.port}")
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending.append(future)
        self._out.append(encode_command(args))
        if not self._flush_due:
            self._flush_due = True
            asyncio.get_running_loop().call_soon(self._flush)
        return future

    def _flush(self) -> None:
        self._flush_due = False
        if self._transport is not None and self._out:
            self._transport.write(b"".join(self._out))
        self._out.clear()

    # -- asyncio.Protocol --------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        self._reader = hiredis.Reader()

    def data_received(self, data: bytes) -> None:
        self._reader.feed(data)
        while (reply := self._reader.gets()) is not False:
            if not self._pending:
                continue  # nothing waits for it (cannot happen: Redis answers in order)
            future = self._pending.popleft()
            if future.done():
                continue  # its caller was cancelled
            if isinstance(reply, hiredis.ReplyError):
                future.set_exception(ResponseError(str(reply)))
            else:
                future.set_result(reply)

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        self._out.clear()
        pending, self._pending = self._pending, deque()
        for future in pending:
            if not future.done():
                future.set_exception(
                    RedisConnectionError(f"connection to Redis lost ({exc or 'closed'})"))


class RespFeed(asyncio.Protocol):
    """A connection subscribed to one channel (a `store.pubsub.Feed`): messages queue up in
    the protocol callback and are taken a batch at a time."""

    def __init__(self, host: str, port: int, channel: str, *, username: str | None = None,
                 password: str | None = None) -> None:
        self.host, self.port = host, port
        self.username, self.password = username, password
        self.channel = channel.encode()
        self._transport: asyncio.Transport | None = None
        self._reader = hiredis.Reader()
        self._messages: list[bytes] = []
        self._wake: asyncio.Future[None] | None = None
        self._confirmed = False
        self._lost: Exception | None = None

    async def open(self, timeout: float) -> None:
        await asyncio.get_running_loop().create_connection(lambda: self, self.host, self.port)
        hello: list[Any] = []
        if self.password is not None:
            hello.append(("AUTH", self.password) if self.username is None
                         else ("AUTH", self.username, self.password))
        hello.append(("SUBSCRIBE", self.channel))
        assert self._transport is not None
        self._transport.write(b"".join(encode_command(command) for command in hello))
        await self._wait(timeout)

    async def receive(self, timeout: float) -> list[bytes]:
        await self._wait(timeout)
        messages, self._messages = self._messages, []
        return messages

    async def close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    async def _wait(self, timeout: float) -> None:
        """Until there is a message or the subscription is confirmed (first call); raises
        when the connection is lost, `TimeoutError` if not yet confirmed in time."""
        if self._lost is not None:
            raise self._lost
        if self._messages:
            return
        self._wake = asyncio.get_running_loop().create_future()
        try:
            await asyncio.wait([self._wake], timeout=timeout)
        finally:
            self._wake = None
        if self._lost is not None:
            raise self._lost
        if not self._confirmed:
            raise TimeoutError("Redis did not confirm the subscription")

    def _wakeup(self) -> None:
        if self._wake is not None and not self._wake.done():
            self._wake.set_result(None)

    # -- asyncio.Protocol --------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        self._reader.feed(data)
        while (reply := self._reader.gets()) is not False:
            if isinstance(reply, hiredis.ReplyError):
                self._lost = RedisConnectionError(f"Redis refused the subscription: {reply}")
                assert self._transport is not None
                self._transport.close()
            elif isinstance(reply, list) and len(reply) == 3 and reply[1] == self.channel:
                if reply[0] == b"message":
                    self._messages.append(reply[2])
                elif reply[0] == b"subscribe":
                    self._confirmed = True
        self._wakeup()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._lost is None:
            self._lost = RedisConnectionError(f"subscription connection lost ({exc or 'closed'})")
        self._wakeup()


def encode_command(args: Sequence[Any]) -> bytes:
    """One command in RESP: an array of bulk strings."""
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        if isinstance(arg, bytes):
            data = arg
        elif isinstance(arg, str):
            data = arg.encode()
        elif isinstance(arg, int | float):
            data = repr(arg).encode()
        else:
            data = str(arg).encode()
        parts.append(b"$%d\r\n" % len(data))
        parts.append(data)
        parts.append(b"\r\n")
    return b"".join(parts)
