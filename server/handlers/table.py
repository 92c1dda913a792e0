"""The dispatch table: command class -> the handler that serves it, and what each feature does
when a connection closes.

A handler gets a `Request` (the connection, the request id, the validated command, the
encoding of the frame) and answers through it: `request.ok(**result)` once, or it raises a
`ProtocolError`, which the dispatcher turns into the error reply. A handler that answers
later (a `webrtc_offer` gathering ICE) replies from its own task with `ok` or `fail`.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from protocol import codec, messages
from protocol.errors import ErrorCode, ProtocolError
from protocol.validate import RequestError
from server.connection import Connection, send_all
from server.metrics import Metrics


class Replies:
    """Writes replies to one connection in the encoding of the frame answered."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def ok(self, conn: Connection, rid: int, binary: bool, result: Mapping[str, Any]) -> None:
        send_all((conn,), codec.encode(messages.ok(rid, **result), binary))

    def error(self, conn: Connection, exc: ProtocolError, rid: int | None,
              binary: bool) -> None:
        if isinstance(exc, RequestError):
            rid = exc.id
        elif exc.code is ErrorCode.BAD_FRAME:
            rid = None
        message = messages.error(rid, exc.code, exc.message)
        if exc.field is not None:
            message["field"] = exc.field
        self.metrics.errors[exc.code.value] += 1
        send_all((conn,), codec.encode(message, binary))


@dataclass(eq=False, slots=True)
class Request:
    """One validated request being served."""

    conn: Connection
    id: int
    command: Any
    binary: bool
    replies: Replies
    kind: str = ""  # the verb, for the latency histogram
    started: float = 0.0  # time.perf_counter() when its frame arrived

    def ok(self, **result: Any) -> None:
        self.replies.ok(self.conn, self.id, self.binary, result)
        self.replies.metrics.observe_request(self.kind, time.perf_counter() - self.started)

    def fail(self, exc: ProtocolError) -> None:
        self.replies.error(self.conn, exc, self.id, self.binary)
        self.replies.metrics.observe_request(self.kind, time.perf_counter() - self.started)


Handler = Callable[[Request], Awaitable[None]]
# What a feature does after a `hello` was answered: `(conn, previous user or None)`.
HelloHook = Callable[[Connection, str | None], Awaitable[None]]
# What a feature does when a connection closed: `(conn, rooms)`, `rooms` being the rooms its
# user is no longer connected to through this node (the connection is forgotten already).
Closer = Callable[[Connection, Sequence[str]], Awaitable[None]]


class HandlerTable:
    def __init__(self) -> None:
        self._handlers: dict[type, Handler] = {}
        self.closers: list[Closer] = []
        self.hello_hooks: list[HelloHook] = []

    def register(self, command: type, handler: Handler) -> None:
        """Serve `command` with `handler`; a class has one handler (a second is a bug)."""
        if command in self._handlers:
            raise ValueError(f"{command.__name__} has a handler already")
        self._handlers[command] = handler

    def register_all(self, commands: Iterable[type], handler: Handler) -> None:
        for command in commands:
            self.register(command, handler)

    def on_close(self, closer: Closer) -> None:
        self.closers.append(closer)

    def on_hello(self, hook: HelloHook) -> None:
        self.hello_hooks.append(hook)

    def get(self, command: type) -> Handler | None:
        return self._handlers.get(command)

    def __contains__(self, command: type) -> bool:
        return command in self._handlers
