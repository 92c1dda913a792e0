"""Offer forwarding: an offer that reaches a node which does not own the room's media goes
over Redis to the owner's inbox channel, and the owner's answer comes back to the asking
node's inbox. The same goes for a call's media (kind "call"). Messages are msgpack maps: a
request `{k: "q", id, from, kind, room, user, sdp}` (`room`: the room's or the call's id;
`kind` "room" when absent), a reply `{k: "a", id, ok, sdp | code, message}`.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import msgpack

from protocol.errors import ErrorCode, ProtocolError
from store.redis import RedisStore
from store.wire import pack

log = logging.getLogger(__name__)

# The owner's side: (kind, room or call id, user, sdp) -> answer sdp; raises NotOwner or
# ProtocolError.
Answerer = Callable[[str, str, str, str], Awaitable[str]]


class NotOwner(Exception):
    """The node asked does not own the room's media (any more): ask again who does."""


class Unreachable(Exception):
    def __init__(self, owner: str, *, listening: bool) -> None:
        super().__init__(owner)
        # False: nobody is subscribed to the owner's inbox, so it is dead (or restarting
        # without its media): the room may be taken at once, its lease notwithstanding.
        self.listening = listening


class OfferForwarder:
    """This node's inbox: sends offers to owners, answers the offers forwarded to it."""

    def __init__(self, store: RedisStore, answer: Answerer, *, timeout: float) -> None:
        self.store = store
        self.node_id = store.node_id
        self.answer = answer
        self.timeout = timeout
        self._pending: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        # Other kinds of inbox message by their `k` (the edge relay's subscriptions).
        self.handlers: dict[str, Callable[[dict[str, Any]], None]] = {}

    async def forward(self, owner: str, room_id: str, user: str, sdp: str, *,
                      kind: str = "room") -> str:
        """The answer of `owner` to the offer (for a room, or with kind "call" a call). Raises
        NotOwner, Unreachable or the owner's ProtocolError."""
        request_id = uuid.uuid4().hex
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        try:
            request = {"k": "q", "id": request_id, "from": self.node_id, "kind": kind,
                       "room": room_id, "user": user, "sdp": sdp}
            if not await self.store.redis.publish(self.store.keys.inbox(owner), pack(request)):
                raise Unreachable(owner, listening=False)
            try:
                reply = await asyncio.wait_for(future, self.timeout)
            except TimeoutError as exc:
                raise Unreachable(owner, listening=True) from exc
        finally:
            self._pending.pop(request_id, None)
        if reply.get("ok"):
            return str(reply["sdp"])
        if reply.get("code") == "not_owner":
            raise NotOwner(owner)
        raise ProtocolError(ErrorCode(reply["code"]), str(reply.get("message", "")))

    async def listen(self, *, running: Callable[[], bool], subscribed: asyncio.Event,
                     poll: float) -> None:
        await self.store.subscribe(self.store.keys.inbox(self.node_id), self._on_message,
                                   running=running, subscribed=subscribed, poll=poll)

    def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for future in self._pending.values():
            if not future.done():
                future.set_exception(
                    ProtocolError(ErrorCode.INTERNAL, "this node is shutting down"))

    def _on_message(self, data: bytes) -> None:
        try:
            message = msgpack.unpackb(data, raw=False)
            kind = message["k"]
        except (ValueError, TypeError, KeyError, msgpack.ExtraData):
            log.warning("malformed cluster message dropped")
            return
        if kind == "a":
            future = self._pending.get(str(message.get("id")))
            if future is not None and not future.done():
                future.set_result(message)
        elif kind == "q":
            task = asyncio.ensure_future(self._serve(message))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        elif kind in self.handlers:
            self.handlers[kind](message)

    async def _serve(self, request: dict[str, Any]) -> None:
        reply: dict[str, Any] = {"k": "a", "id": request["id"]}
        room_id = str(request["room"])
        try:
            sdp = await self.answer(str(request.get("kind", "room")), room_id,
                                    str(request["user"]), str(request["sdp"]))
            reply.update(ok=True, sdp=sdp)
        except NotOwner:
            reply.update(ok=False, code="not_owner")
        except ProtocolError as exc:
            reply.update(ok=False, code=exc.code.value, message=exc.message)
        except Exception:
            log.exception("forwarded offer for room %s failed", room_id)
            reply.update(ok=False, code=ErrorCode.INTERNAL.value, message="media failed")
        await self.store.redis.publish(self.store.keys.inbox(str(request["from"])), pack(reply))
