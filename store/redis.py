"""RedisStore: the RoomStore for several nodes sharing one Redis.

What Redis holds (prefix `vr:` by default; `{id}` is a hash tag, so one room's keys share a
cluster slot):

- `vr:{<room>}:room`  hash  `v` version, `b` msgpack of `Room.to_dict()`, `s` msgpack of
                            `Room.summary()` (what `list_rooms` shows), `e` the room's message
                            sequence number; no TTL (a room lives until it is closed)
- `vr:seated`         hash  user -> room id, for every seated user (the one-seat-per-user rule
                            across rooms)
- `vr:rooms`          zset  room id scored by `created_at` (`list_rooms`, newest first)
- `vr:deadlines`      zset  room id scored by its next grace deadline (`due_rooms`)
- `vr:events`         channel: one message per commit, `<seq>:` + header + blob, where header
                            is msgpack `{r: room, v: version, n: origin node, e: events}` and
                            blob the room after the commit (empty when it closed); seq 0 marks
                            a notice outside the sequence (`notify`)

`commit` is one Lua script: version check, seat index check and update, blob, room list,
deadline index and PUBLISH happen in one atomic step, so every node sees the changes of a room
in version order and no seat can be given twice. Pub/sub is at-most-once: the subscriber keeps
the last version seen per room and, on a gap or after a reconnect, re-reads the room and hands
the sink a `room_state` event so clients re-read.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hashlib
import inspect
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import hiredis
import msgpack
import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from protocol.errors import ErrorCode
from rooms.machine import Event, RoomError
from rooms.model import Room
from store.base import Conflict, EventSink

log = logging.getLogger(__name__)

DEFAULT_PREFIX = "vr"
RECONNECT_DELAY = 0.2
# redis-py can swallow a cancellation that lands mid-command: the listener also polls a flag,
# and close() waits this long at most for it.
POLL_INTERVAL = 1.0
# Connections to Redis per node (commands, the two subscriptions, pipelines), and how long a
# command may wait for a free one.
MAX_CONNECTIONS = 32
POOL_TIMEOUT = 10.0
# Seconds a room this node loaded or committed counts as served without local members.
TOUCHED_SERVES = 10.0
# Seconds the room handed back by a lost race stands in for a load (the retry comes at once).
REREAD_FRESH = 0.1
STOP_TIMEOUT = 5.0
# The hot commands' connection: tries (with these pauses) when Redis cannot be reached.
PIPE_RETRIES = (0.05, 0.2, 0.5)


# KEYS: room hash, seated hash, rooms zset, deadlines zset.
# ARGV: room id, expected version ('' = must not exist), new version, blob ('' = delete),
#       summary, created_at, deadline ('' = none), channel, header, write ('0' = the room is
#       unchanged: check the version, publish only), n seated, the seated users, then the users
#       whose seat in this room is released.
# The message is "<seq>:" + header + blob, seq counting this room's messages (gap detection:
# a command that changes nothing keeps the version but still publishes).
_COMMIT_LUA = """
local room_id = ARGV[1]
local current = redis.call('HGET', KEYS[1], 'v')
if ARGV[2] == '' then
  if current then return {'conflict', current} end
elseif current ~= ARGV[2] then
  -- The room as it is now: the caller reloads it next, this saves the round trip.
  return {'conflict', current or '', redis.call('HGET', KEYS[1], 'b') or ''}
end
local n = tonumber(ARGV[11])
if ARGV[10] == '1' then
  for i = 12, 11 + n do
    local holder = redis.call('HGET', KEYS[2], ARGV[i])
    if holder and holder ~= room_id then return {'already_seated', ARGV[i], holder} end
  end
  for i = 12 + n, #ARGV do
    if redis.call('HGET', KEYS[2], ARGV[i]) == room_id then
      redis.call('HDEL', KEYS[2], ARGV[i])
    end
  end
  for i = 12, 11 + n do redis.call('HSET', KEYS[2], ARGV[i], room_id) end
end
local seq = redis.call('HINCRBY', KEYS[1], 'e', 1)
if ARGV[4] == '' then
  redis.call('DEL', KEYS[1])
  redis.call('ZREM', KEYS[3], room_id)
  redis.call('ZREM', KEYS[4], room_id)
elseif ARGV[10] == '1' then
  redis.call('HSET', KEYS[1], 'v', ARGV[3], 'b', ARGV[4], 's', ARGV[5])
  redis.call('ZADD', KEYS[3], ARGV[6], room_id)
  if ARGV[7] == '' then
    redis.call('ZREM', KEYS[4], room_id)
  else
    redis.call('ZADD', KEYS[4], ARGV[7], room_id)
  end
end
redis.call('PUBLISH', ARGV[8], seq .. ':' .. ARGV[9] .. ARGV[4])
return {'ok'}
"""

# KEYS: room hash. ARGV: the version the caller holds ('' = none). Returns {} when there is no
# such room, {v} when the caller's copy is current, else {v, blob}.
_LOAD_LUA = """
local v = redis.call('HGET', KEYS[1], 'v')
if not v then return {} end
if v == ARGV[1] then return {v} end
return {v, redis.call('HGET', KEYS[1], 'b')}
"""

# Entries after a cursor (score, member) in newest-first order: equal score with a smaller
# member, then lower scores. KEYS: rooms zset. ARGV: score, member, limit.
_PAGE_LUA = """
local out = {}
local limit = tonumber(ARGV[3])
local same = redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[1], ARGV[1])
for i = #same, 1, -1 do
  if #out >= limit then break end
  if same[i] < ARGV[2] then table.insert(out, same[i]) end
end
if #out < limit then
  local lower = redis.call('ZREVRANGEBYSCORE', KEYS[1], '(' .. ARGV[1], '-inf',
                           'LIMIT', 0, limit - #out)
  for _, id in ipairs(lower) do table.insert(out, id) end
end
return out
"""

_SHA = {source: hashlib.sha1(source.encode()).hexdigest() for source in (_COMMIT_LUA, _LOAD_LUA)}


def pack(value: Any) -> bytes:
    return msgpack.packb(value, use_bin_type=True, default=_fallback)


def _fallback(value: Any) -> Any:
    # Event data may carry node-local objects (a connection handle): they mean nothing on another
    # node, so they travel as their text form.
    if isinstance(value, set | frozenset):
        return sorted(value)
    return str(value)


def _unpack(data: Any) -> Any:
    return msgpack.unpackb(data, raw=False, strict_map_key=False)


def event_to_wire(event: Event) -> list[Any]:
    return [event.type, dict(event.data), None if event.to is None else sorted(event.to)]


def event_from_wire(row: Sequence[Any]) -> Event:
    kind, data, to = row
    return Event(str(kind), dict(data), None if to is None else frozenset(to))


def encode_cursor(score: float, room_id: str) -> str:
    return base64.urlsafe_b64encode(pack([score, room_id])).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[float, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        score, room_id = _unpack(raw)
        return float(score), str(room_id)
    except (ValueError, TypeError, binascii.Error, msgpack.ExtraData) as exc:
        raise RoomError(
            ErrorCode.BAD_REQUEST, "cursor: not a cursor from list_rooms", field="cursor"
        ) from exc


class Pipeline(asyncio.Protocol):
    """One connection to Redis for the store's hot commands (the load and commit scripts).

    redis-py costs ~150 µs of Python per command (pool, retry wrapper, timeouts, parser) and
    a system call each; here the commands every coroutine issues in one turn of the event loop
    go out in one write, and the replies, which Redis sends in order, resolve them in order
    (hiredis parses). Unreachable Redis: retried as redis-py does; a connection lost with
    commands in flight fails them with redis-py's `ConnectionError`.
    """

    def __init__(self, host: str, port: int, *, db: int = 0, username: str | None = None,
                 password: str | None = None) -> None:
        self.host, self.port, self.db = host, port, db
        self.username, self.password = username, password
        self._transport: asyncio.Transport | None = None
        self._connecting: asyncio.Future[None] | None = None
        self._pending: deque[asyncio.Future[Any]] = deque()
        self._out: list[bytes] = []
        self._flush_due = False
        self._reader = hiredis.Reader()
        self._closed = False

    @classmethod
    def for_client(cls, client: aioredis.Redis) -> Pipeline | None:
        """A pipeline to the server the redis-py client talks to; None for what it does not
        cover (unix sockets, TLS): the store then sends through redis-py."""
        pool = client.connection_pool
        kwargs = pool.connection_kwargs
        if pool.connection_class is not aioredis.Connection or "host" not in kwargs:
            return None
        return cls(str(kwargs["host"]), int(kwargs.get("port", 6379)),
                   db=int(kwargs.get("db") or 0), username=kwargs.get("username"),
                   password=kwargs.get("password"))

    async def execute(self, *args: Any) -> Any:
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

    async def script(self, sha: str, source: str, keys: Sequence[str],
                     args: Sequence[Any]) -> Any:
        try:
            return await self.execute("EVALSHA", sha, len(keys), *keys, *args)
        except ResponseError as exc:
            if not str(exc).startswith("NOSCRIPT"):
                raise
            # Redis restarted (or flushed its scripts): EVAL runs it and caches it again.
            return await self.execute("EVAL", source, len(keys), *keys, *args)

    def close(self) -> None:
        self._closed = True
        if self._transport is not None:
            self._transport.close()

    async def subscribe_forever(
        self,
        channel: str,
        handle: Callable[[bytes], Awaitable[None] | None],
        *,
        running: Callable[[], bool],
        subscribed: asyncio.Event,
        poll: float,
        resubscribed: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        """As the module's `subscribe_forever`, on a connection of its own to this server."""
        loop = asyncio.get_running_loop()
        first = True
        while running():
            feed = _Subscription(channel)
            transport: asyncio.BaseTransport | None = None
            try:
                transport, _ = await loop.create_connection(
                    lambda feed=feed: feed, self.host, self.port)  # type: ignore[misc]
                hello: list[Any] = []
                if self.password is not None:
                    hello.append(("AUTH", self.password) if self.username is None
                                 else ("AUTH", self.username, self.password))
                hello.append(("SUBSCRIBE", channel))
                feed.start(b"".join(_resp(command) for command in hello))
                await feed.wait(poll * 10)
                if not first and resubscribed is not None:
                    await resubscribed()
                first = False
                subscribed.set()
                while running():
                    for data in feed.take():
                        result = handle(data)
                        if inspect.isawaitable(result):
                            await result
                    await feed.wait(poll)
            except (RedisConnectionError, RedisTimeoutError, OSError, TimeoutError) as exc:
                log.warning("subscription to %s lost (%s); resubscribing", channel, exc)
                subscribed.set()
                if running():
                    await asyncio.sleep(RECONNECT_DELAY)
            finally:
                if transport is not None:
                    transport.close()

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
            self._connecting.set_exception(exc)
            self._connecting.exception()  # retrieved: nobody else may be waiting
            raise
        finally:
            self._connecting = None

    def _send(self, args: Sequence[Any]) -> asyncio.Future[Any]:
        if self._transport is None:
            raise RedisConnectionError(f"not connected to Redis at {self.host}:{self.port}")
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending.append(future)
        self._out.append(_resp(args))
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


class _Subscription(asyncio.Protocol):
    """A connection subscribed to one channel: messages queue up until `take()`."""

    def __init__(self, channel: str) -> None:
        self.channel = channel.encode()
        self._transport: asyncio.Transport | None = None
        self._reader = hiredis.Reader()
        self._messages: list[bytes] = []
        self._wake: asyncio.Future[None] | None = None
        self._confirmed = False
        self._lost: Exception | None = None

    def start(self, commands: bytes) -> None:
        assert self._transport is not None
        self._transport.write(commands)

    async def wait(self, timeout: float) -> None:
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

    def take(self) -> list[bytes]:
        messages, self._messages = self._messages, []
        return messages

    def _wakeup(self) -> None:
        if self._wake is not None and not self._wake.done():
            self._wake.set_result(None)

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


def _resp(args: Sequence[Any]) -> bytes:
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


class Keys:
    """Key names; one place so the cluster module and the docs agree."""

    def __init__(self, prefix: str = DEFAULT_PREFIX) -> None:
        self.prefix = prefix
        self.seated = f"{prefix}:seated"
        self.rooms = f"{prefix}:rooms"
        self.deadlines = f"{prefix}:deadlines"
        self.events = f"{prefix}:events"

    def room(self, room_id: str) -> str:
        return f"{self.prefix}:{{{room_id}}}:room"

    def owner(self, room_id: str) -> str:
        return f"{self.prefix}:{{{room_id}}}:owner"


class RedisStore:
    """RoomStore over Redis; one instance per node (`node_id` tags the events it publishes)."""

    def __init__(
        self,
        url: str,
        node_id: str,
        *,
        prefix: str = DEFAULT_PREFIX,
        client: aioredis.Redis | None = None,
    ) -> None:
        self.url = url
        self.node_id = node_id
        self.keys = Keys(prefix)
        if client is None:
            # A bounded pool: a burst of requests waits for a connection instead of opening
            # hundreds (each new one also costs redis-py ~20 ms of CPU to set up).
            pool = aioredis.BlockingConnectionPool.from_url(
                url, max_connections=MAX_CONNECTIONS, timeout=POOL_TIMEOUT)
            client = aioredis.Redis.from_pool(pool)  # closes the pool with the client
        self.redis: aioredis.Redis = client
        self._commit_script = self.redis.register_script(_COMMIT_LUA)
        self._page_script = self.redis.register_script(_PAGE_LUA)
        self._load_script = self.redis.register_script(_LOAD_LUA)
        self._pipe = Pipeline.for_client(self.redis)
        self._sink: EventSink | None = None
        self._listener: asyncio.Task[None] | None = None
        self._running = False
        self._subscribed = asyncio.Event()
        # Last message sequence number seen per room (own commits included): gap detection.
        self._seen: dict[str, int] = {}
        # The stored room handed back by a commit that lost a race, for the reload that
        # follows at once (read in the same atomic step as the version check: as fresh as a
        # load then). Kept REREAD_FRESH seconds at most, with the time it was read.
        self._reread: dict[str, tuple[float, bytes]] = {}
        # The newest version known of each room this node loaded or committed, kept current by
        # the channel: a load then reads only the version unless the room changed. Handed out
        # as copies; dropped when the room closes.
        self._known: dict[str, Room] = {}
        # Whether this node serves a room at all (local members or media); None: every room.
        # Batches of rooms it does not serve are neither decoded nor handed to the sink.
        self.interested: Callable[[str], bool] | None = None
        # When this node last loaded or committed each room: a room it just worked on counts
        # as served for a while (its new member's subscription may not be in place yet).
        self._touched: dict[str, float] = {}

    # -- RoomStore ---------------------------------------------------------------------------

    async def load(self, room_id: str) -> Room | None:
        reread = self._reread.pop(room_id, None)
        if reread is not None and time.monotonic() - reread[0] < REREAD_FRESH:
            room = _room(reread[1])
        else:
            known = self._known.get(room_id)
            reply = await self._script(
                _LOAD_LUA, [self.keys.room(room_id)], ["" if known is None else known.version])
            if not reply:
                self._known.pop(room_id, None)
                return None
            if len(reply) == 1 and known is not None:
                self._touched[room_id] = time.monotonic()
                return known.copy()
            room = _room(reply[1])
        if room is None:
            return None
        self._remember(room)
        return room.copy()

    async def load_cached(self, room_id: str) -> tuple[Room | None, bool]:
        """The room for a command, and whether it was checked against Redis.

        A room this node keeps current through the channel comes without a round trip and
        unchecked (False): it is not a copy, the caller must not change it (`rooms.machine`
        works on its own copy), and the commit's version check rejects it if it was behind.
        Otherwise as `load` (True).
        """
        if room_id not in self._reread:
            known = self._known.get(room_id)
            if known is not None:
                self._touched[room_id] = time.monotonic()
                return known, False
        return await self.load(room_id), True

    async def _script(self, source: str, keys: list[str], args: list[Any]) -> Any:
        if self._pipe is not None:
            return await self._pipe.script(_SHA[source], source, keys, args)
        script = self._commit_script if source is _COMMIT_LUA else self._load_script
        return await script(keys=keys, args=args)

    def _remember(self, room: Room, *, touch: bool = True) -> None:
        if touch:
            self._touched[room.id] = time.monotonic()
        known = self._known.get(room.id)
        if known is None or known.version <= room.version:
            self._known[room.id] = room

    async def commit(self, old: Room | None, new: Room | None, events: list[Event]) -> None:
        """Store `new` (None: the room is gone) if the stored version is still `old`'s.

        Raises Conflict when another commit came first, RoomError(already_seated) when a user
        seated by `new` holds a seat in another room. Publishes `events` in the same step.
        """
        either = new if new is not None else old
        if either is None:
            raise ValueError("commit needs an old or a new room")
        room_id = either.id
        before = old.seated_users() if old is not None else {}
        after = new.seated_users() if new is not None else {}
        released = [user for user in before if user not in after]
        write = old is None or new is None or new.version != old.version
        if new is not None:
            version = new.version
            blob = pack(new.to_dict())
            summary = pack(new.summary()) if write else b""
            deadline = new.next_deadline()
            created_at = repr(new.created_at)
        else:
            assert old is not None
            version = old.version + 1
            blob = summary = b""
            deadline = None
            created_at = "0"
        header = pack(
            {
                "r": room_id,
                "v": version,
                "n": self.node_id,
                "e": [event_to_wire(event) for event in events],
            }
        )
        args: list[Any] = [
            room_id,
            "" if old is None else str(old.version),
            str(version),
            blob,
            summary,
            created_at,
            "" if deadline is None else repr(deadline),
            self.keys.events,
            header,
            "1" if write else "0",
            len(after),
            *after,
            *released,
        ]
        result = await self._script(
            _COMMIT_LUA,
            [self.keys.room(room_id), self.keys.seated, self.keys.rooms, self.keys.deadlines],
            args)
        status = as_text(result[0])
        if status == "ok":
            if new is None:
                self._known.pop(room_id, None)
            else:
                self._remember(new.copy())
            return
        if status == "conflict":
            if len(result) > 2 and result[2]:
                self._reread[room_id] = (time.monotonic(), bytes(result[2]))
            raise Conflict(f"room {room_id} is at version {as_text(result[1]) or 'none'}")
        user, holder = as_text(result[1]), as_text(result[2])
        raise RoomError(
            ErrorCode.ALREADY_SEATED, f"user {user!r} already holds a seat in room {holder}"
        )

    async def list_rooms(
        self, limit: int, cursor: str | None = None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """Summaries of the newest rooms first, and a cursor for the next page (None: no more)."""
        limit = max(0, limit)
        if limit == 0:
            return [], None
        if cursor is None:
            raw_ids = await self.redis.zrevrange(self.keys.rooms, 0, limit)
        else:
            score, after = decode_cursor(cursor)
            raw_ids = await self._page_script(
                keys=[self.keys.rooms], args=[repr(score), after, limit + 1]
            )
        more = len(raw_ids) > limit
        ids = [as_text(room_id) for room_id in raw_ids[:limit]]
        if not ids:
            return [], None
        pipe = self.redis.pipeline(transaction=False)
        for room_id in ids:
            pipe.hget(self.keys.room(room_id), "s")
        pipe.zscore(self.keys.rooms, ids[-1])
        *summaries, last_score = await pipe.execute()
        # A room closed between the two reads is left out rather than shown half-gone.
        rooms = [_unpack(raw) for raw in summaries if raw is not None]
        next_cursor = None
        if more and last_score is not None:
            next_cursor = encode_cursor(float(last_score), ids[-1])
        return rooms, next_cursor

    async def due_rooms(self, now: float) -> list[str]:
        ids = await self.redis.zrangebyscore(self.keys.deadlines, "-inf", repr(now))
        return [as_text(room_id) for room_id in ids]

    async def start(self, sink: EventSink) -> None:
        """Subscribe to the event channel; other nodes' batches go to `sink` in order."""
        self._sink = sink
        if self._listener is None:
            self._running = True
            self._listener = asyncio.create_task(self._listen(), name="redis-store-listener")
            await self._subscribed.wait()

    async def close(self) -> None:
        self._running = False
        if self._listener is not None:
            self._listener.cancel()
            await asyncio.wait([self._listener], timeout=STOP_TIMEOUT)
            self._listener = None
        self._sink = None
        if self._pipe is not None:
            self._pipe.close()
        await self.redis.aclose()

    # -- extras for the cluster ---------------------------------------------------------------

    async def notify(self, room_id: str, events: list[Event]) -> None:
        """Send events that change no state (a media takeover's `room_state`) to every node.

        They go to this node's sink directly and to the others over the channel, outside the
        room's message sequence.
        """
        raw = await self.redis.hget(self.keys.room(room_id), "b")
        if not isinstance(raw, bytes):
            return  # the room is gone
        await self._publish_notice(room_id, events, raw)
        await self._deliver(room_id, Room.from_dict(_unpack(raw)), list(events))

    async def broadcast(self, room_id: str, events: list[Event]) -> None:
        """Send events that carry no room state (speaking levels) to the other nodes' members.

        No room blob goes with them and this node's own members are not served from here:
        the caller delivers locally.
        """
        await self._publish_notice(room_id, events, b"")

    async def _publish_notice(self, room_id: str, events: list[Event], blob: bytes) -> None:
        # Sequence 0: outside the room's message sequence, so no gap is inferred from it.
        header = pack(
            {"r": room_id, "v": 0, "n": self.node_id, "e": [event_to_wire(e) for e in events]}
        )
        await self.redis.publish(self.keys.events, b"0:" + header + blob)

    # -- subscriber ---------------------------------------------------------------------------

    async def _listen(self) -> None:
        if self._pipe is not None:
            # redis-py's PubSub costs ~100 us of Python per message (a timeout, the retry
            # wrapper, push-message parsing): a plain subscribed connection instead.
            await self._pipe.subscribe_forever(
                self.keys.events, self._handle, running=lambda: self._running,
                subscribed=self._subscribed, poll=POLL_INTERVAL, resubscribed=self._resync_all)
            return
        await subscribe_forever(
            self.redis, self.keys.events, self._handle, running=lambda: self._running,
            subscribed=self._subscribed, poll=POLL_INTERVAL, resubscribed=self._resync_all)

    async def _handle(self, data: bytes) -> None:
        try:
            await self._on_message(data)
        except (RedisConnectionError, RedisTimeoutError):
            raise
        except Exception:
            # One bad batch (or a failing sink) must not end the subscription.
            log.exception("dropping a malformed or failing event batch")

    async def _on_message(self, data: bytes) -> None:
        colon = data.index(b":")
        seq = int(data[:colon])
        unpacker = msgpack.Unpacker(raw=False, strict_map_key=False)
        unpacker.feed(data[colon + 1:])
        header = unpacker.unpack()
        blob = data[colon + 1 + unpacker.tell():]
        room_id = str(header["r"])
        own = header["n"] == self.node_id
        if seq == 0:
            # A notice outside the sequence; the origin delivered it itself.
            if not own and self._serves(room_id):
                await self._deliver(room_id, _room(blob), _events(header["e"]))
            return
        last = self._seen.get(room_id)
        if last is not None and seq <= last:
            return  # a batch we already passed (delivered, or covered by a re-read)
        serves = self._serves(room_id)
        if not blob:  # closed: nothing more will come
            self._seen.pop(room_id, None)
            self._known.pop(room_id, None)
            self._touched.pop(room_id, None)
        else:
            self._seen[room_id] = seq
        if not serves:
            self._known.pop(room_id, None)  # no longer kept current: the next load reads
            return
        if last is not None and seq > last + 1:
            await self._resync(room_id)  # batches were lost: members re-read the room
            return
        if own:
            return  # delivered by this node's gateway already
        room = _room(blob)
        if room is not None and room_id in self._known:
            self._remember(room, touch=False)
        await self._deliver(room_id, room, _events(header["e"]))

    async def _resync(self, room_id: str) -> None:
        """Messages were lost: hand the sink the current room so clients re-read it."""
        seq, blob = await self.redis.hmget(self.keys.room(room_id), ["e", "b"])
        if blob is None:
            self._seen.pop(room_id, None)
            await self._deliver(room_id, None, [Event("room_closed", {"reason": "closed"})])
            return
        self._seen[room_id] = int(seq or 0)
        await self._deliver(room_id, _room(blob), [Event("room_state")])

    async def _resync_all(self) -> None:
        for room_id, last in list(self._seen.items()):
            if not self._serves(room_id):
                del self._seen[room_id]  # picked up afresh with its next message
                continue
            seq = await self.redis.hget(self.keys.room(room_id), "e")
            if seq is None or int(seq) != last:
                await self._resync(room_id)

    def _serves(self, room_id: str) -> bool:
        if self.interested is None or self.interested(room_id):
            return True
        touched = self._touched.get(room_id)
        if touched is not None and time.monotonic() - touched < TOUCHED_SERVES:
            return True
        self._touched.pop(room_id, None)
        return False

    async def _deliver(self, room_id: str, room: Room | None, events: list[Event]) -> None:
        if self._sink is None or not self._serves(room_id):
            return
        result = self._sink(room_id, room, events)
        if inspect.isawaitable(result):
            await result


async def subscribe_forever(
    redis: aioredis.Redis,
    channel: str,
    handle: Callable[[bytes], Awaitable[None] | None],
    *,
    running: Callable[[], bool],
    subscribed: asyncio.Event,
    poll: float,
    resubscribed: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """Hand each message of `channel` to `handle` while `running()`; resubscribe when Redis
    drops the connection (then `resubscribed()`: what was published meanwhile is lost).

    `subscribed` is set once listening, and also when Redis cannot be reached, so that a
    start never hangs on a dead Redis. Polls every `poll` seconds to notice `running()`.
    """
    first = True
    while running():
        pubsub = redis.pubsub(ignore_subscribe_messages=True)
        lost = False
        try:
            await pubsub.subscribe(channel)
            if not first and resubscribed is not None:
                await resubscribed()
            first = False
            subscribed.set()
            while running():
                message = await pubsub.get_message(timeout=poll)
                if message is not None and message.get("type") == "message":
                    result = handle(message["data"])
                    if inspect.isawaitable(result):
                        await result
        except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
            log.warning("subscription to %s lost (%s); resubscribing", channel, exc)
            lost = True
        finally:
            with contextlib.suppress(Exception):
                await pubsub.aclose()
        if lost:
            subscribed.set()
            await asyncio.sleep(RECONNECT_DELAY)


def _room(blob: Any) -> Room | None:
    return Room.from_dict(_unpack(blob)) if blob else None


def _events(rows: list[Any]) -> list[Event]:
    # Connection ids in `_joined` are unique across nodes (the gateway prefixes its node id),
    # so another node's join can never be taken for one of this node's connections.
    return [event_from_wire(row) for row in rows]


def as_text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode()
    return "" if value is None else str(value)
