"""One client frame at a time: decode, validate into a command, check session and rate,
dispatch through the handler table, reply in the encoding of the frame answered.

Each feature registers its verbs in the `HandlerTable` from its own module (server/handlers/);
this module knows none of them.

Rates (docs/security.md): every frame takes a token from its connection's bucket before it
is decoded, refused frames included; a signed-in user's frames also take one from the user's
bucket on this node, shared by all their connections. In a cluster a user's budget is split
evenly over the nodes they are connected to (presence says how many, looked up for the users
active lately every `SHARE_REFRESH` seconds), so that their sockets together get no more than
one user's rate however they are spread. A frame that is no request at all (`bad_frame`), and
any frame refused before the connection said hello, also takes a token from the connection's
strike bucket; a connection that empties it is closed (1008).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from protocol import codec
from protocol.errors import ErrorCode, ProtocolError
from protocol.ratelimit import TokenBucket
from protocol.schema import TYPE_OF, Hello
from protocol.validate import parse_id, parse_request
from server.connection import Connection
from server.handlers.session import VERSION
from server.handlers.table import HandlerTable, Replies, Request
from server.metrics import Metrics
from server.settings import Settings

__all__ = ["VERSION", "Allowance", "Requests"]

log = logging.getLogger(__name__)

# Strikes a connection may spend at once (half its burst) and per second (a quarter of its
# rate): a client may err now and then, never for long.
STRIKE_BURST_SHARE = 0.5
STRIKE_RATE_SHARE = 0.25
CLOSE_BAD_FRAMES = 1008
# Users' buckets are looked over for full ones (as good as new: forgotten) every this many
# frames, so the table holds only users who sent something lately.
PRUNE_EVERY = 1024
# How often a cluster node asks on how many nodes its active users are connected.
SHARE_REFRESH = 1.0

# Users -> on how many nodes each has connections (store.presence's `nodes_of`).
NodeCounts = Callable[[Sequence[str]], Awaitable[dict[str, int]]]


@dataclass(slots=True)
class Allowance:
    """One connection's buckets: its requests, and its strikes (refused frames)."""

    requests: TokenBucket
    strikes: TokenBucket


class Requests:
    def __init__(
        self,
        settings: Settings,
        handlers: HandlerTable,
        metrics: Metrics,
        *,
        clock: Callable[[], float] = time.monotonic,
        user_nodes: NodeCounts | None = None,
    ) -> None:
        self.settings = settings
        self.handlers = handlers
        self.metrics = metrics
        self.replies = Replies(metrics)
        self.clock = clock
        # User id -> the bucket all their connections on this node draw from as well.
        self._users: dict[str, TokenBucket] = {}
        self._frames = 0
        self.user_nodes = user_nodes
        # User id -> the nodes their budget is split over, where more than one (cluster only).
        self._parts: dict[str, int] = {}
        self._share_failing = False

    def allowance(self) -> Allowance:
        """A new connection's buckets."""
        rate, burst = self.settings.rate, self.settings.burst
        return Allowance(TokenBucket(rate, burst),
                         TokenBucket(rate * STRIKE_RATE_SHARE,
                                     max(1, int(burst * STRIKE_BURST_SHARE))))

    async def on_frame(self, conn: Connection, allowance: Allowance,
                       frame: bytes | str) -> None:
        binary = not isinstance(frame, str)
        if conn.binary is None:
            conn.binary = binary
        rid: int | None = None
        kind = "?"
        started = time.perf_counter()
        now = self.clock()
        # Taken before any work on the frame; refused only after decoding, so that the
        # errors keep the protocol's order (bad_request, not_authenticated, rate_limited).
        within = allowance.requests.allow(now)
        try:
            obj = codec.decode(frame)
            rid = parse_id(obj)
            rid, command = parse_request(obj)
            kind = TYPE_OF[type(command)]
            self.metrics.requests[kind] += 1
            if not conn.authenticated and not isinstance(command, Hello):
                raise ProtocolError(ErrorCode.NOT_AUTHENTICATED, "send hello first")
            if within and conn.user is not None:
                within = self._user_bucket(conn.user, now).allow(now)
            if not within:
                raise ProtocolError(ErrorCode.RATE_LIMITED,
                                    f"more than {self.settings.rate:g} requests a second; "
                                    "slow down")
            handler = self.handlers.get(type(command))
            if handler is None:
                raise ProtocolError(ErrorCode.UNKNOWN_TYPE,
                                    f"{kind!r} is not served by this server")
            await handler(Request(conn, rid, command, binary, self.replies, kind, started))
        except ProtocolError as exc:
            self.replies.error(conn, exc, rid, binary)
            self._timed(kind, started)
            # A strike: a frame that is no request, or any refusal before hello (where no
            # user is known to slow down). A signed-in client's refused requests are only
            # rate limited, like the rest of its requests.
            strike = exc.code is ErrorCode.BAD_FRAME or not conn.authenticated
            if strike and not allowance.strikes.allow(now):
                log.info("closing %s (%s): too many refused frames", conn.id, conn.user)
                conn.close(CLOSE_BAD_FRAMES, "too many refused frames")
        except Exception as exc:
            if _outage(exc):
                # The store did not answer in time (or at all): one line, not a traceback
                # per request while it lasts.
                log.warning("request %s from %s (%s): the store did not answer: %s", kind,
                            conn.id, conn.user, exc)
            else:
                log.exception("request %s from %s (%s) failed", kind, conn.id, conn.user)
            self.replies.error(conn, ProtocolError(ErrorCode.INTERNAL, "internal server error"),
                               rid, binary)
            self._timed(kind, started)

    def _user_bucket(self, user: str, now: float) -> TokenBucket:
        self._frames += 1
        if self._frames % PRUNE_EVERY == 0:
            self._users = {u: b for u, b in self._users.items() if not b.full(now)}
        bucket = self._users.get(user)
        if bucket is None:
            bucket = self._users[user] = TokenBucket(*self._share(self._parts.get(user, 1)))
        return bucket

    def _share(self, parts: int) -> tuple[float, int]:
        """One node's part of a user's rate and burst."""
        return self.settings.rate / parts, max(1, self.settings.burst // parts)

    async def refresh_shares(self) -> None:
        """Split each active user's budget over the nodes they are connected to now. A store
        that does not answer leaves the shares as they were (warned once per outage)."""
        if self.user_nodes is None or not self._users:
            return
        users = list(self._users)
        try:
            counts = await asyncio.wait_for(self.user_nodes(users), self.settings.store_timeout)
        except Exception as exc:
            if not _outage(exc):
                log.exception("per-user rate shares not refreshed")
            elif not self._share_failing:
                log.warning("per-user rate shares not refreshed: the store did not answer: %s",
                            exc)
            self._share_failing = True
            return
        self._share_failing = False
        now = self.clock()
        self._parts = {}
        for user in users:
            parts = max(1, counts.get(user, 1))
            if parts > 1:
                self._parts[user] = parts
            bucket = self._users.get(user)
            rate, burst = self._share(parts)
            if bucket is not None and (bucket.rate, bucket.burst) != (rate, burst):
                bucket.resize(rate, burst, now)

    def _timed(self, kind: str, started: float) -> None:
        """A refused request's latency (a frame that named no verb has none)."""
        if kind != "?":
            self.metrics.observe_request(kind, time.perf_counter() - started)


def _outage(exc: BaseException) -> bool:
    """A store that timed out or cannot be reached: builtin timeouts and connection errors,
    and the Redis client's own (named so, outside the builtin tree)."""
    if isinstance(exc, TimeoutError | ConnectionError):
        return True
    return any(cls.__name__ in ("TimeoutError", "ConnectionError")
               for cls in type(exc).__mro__)
