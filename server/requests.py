"""One client frame at a time: decode, validate into a command, check session and rate,
dispatch through the handler table, reply in the encoding of the frame answered.

Each feature registers its verbs in the `HandlerTable` from its own module (server/handlers/);
this module knows none of them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

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

__all__ = ["VERSION", "Requests"]

log = logging.getLogger(__name__)


class Requests:
    def __init__(
        self,
        settings: Settings,
        handlers: HandlerTable,
        metrics: Metrics,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.handlers = handlers
        self.metrics = metrics
        self.replies = Replies(metrics)
        self._clock = clock

    def bucket(self) -> TokenBucket:
        """A new connection's request allowance."""
        return TokenBucket(self.settings.rate, self.settings.burst)

    async def on_frame(self, conn: Connection, bucket: TokenBucket, frame: bytes | str) -> None:
        binary = not isinstance(frame, str)
        if conn.binary is None:
            conn.binary = binary
        rid: int | None = None
        kind = "?"
        started = time.perf_counter()
        try:
            obj = codec.decode(frame)
            rid = parse_id(obj)
            rid, command = parse_request(obj)
            kind = TYPE_OF[type(command)]
            self.metrics.requests[kind] += 1
            if not conn.authenticated and not isinstance(command, Hello):
                raise ProtocolError(ErrorCode.NOT_AUTHENTICATED, "send hello first")
            if not bucket.allow(self._clock()):
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
        except Exception:
            log.exception("request %s from %s (%s) failed", kind, conn.id, conn.user)
            self.replies.error(conn, ProtocolError(ErrorCode.INTERNAL, "internal server error"),
                               rid, binary)
            self._timed(kind, started)

    def _timed(self, kind: str, started: float) -> None:
        """A refused request's latency (a frame that named no verb has none)."""
        if kind != "?":
            self.metrics.observe_request(kind, time.perf_counter() - started)
