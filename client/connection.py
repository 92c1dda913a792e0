"""An asyncio client for the voice room wire protocol (docs/protocol.md).

    async with VoiceClient.connect(url, user="ada", name="Ada") as c:
        room = (await c.create_room("Evening talk"))["room"]
        ev = await c.wait_for("mic_requested")

    async with VoiceClient.connect(url, user="bob", name="Bob", app="douyin") as c:
        await c.follow("ada")                      # friends once Ada follows back
        call = (await c.call("ada", video=True))["call"]
        await c.wait_call(call["id"], "active")

One method per request, each returning the `ok` reply or raising `ClientError`.
Events arrive through `events()` (async iterators, one queue each) and
`wait_for()`. When the socket drops unexpectedly the client reconnects with
backoff, says hello again and re-joins the rooms it was in. Client-side
notices about the connection itself are events whose type starts with `_`:
`_disconnected {code, reason}`, `_reconnected {rooms}`, `_rejoin_failed {room,
code, message}`, `_closed {reason}`.

The parts: `client/transport.py` (the socket, replies by id, reconnection),
`client/events.py` (streams and `wait_for`), `client/verbs/` (the requests, one module
per group: rooms, people, calls, matching, props; `VoiceClient` combines them). Call media is
`client/call_media.py`.
"""

from __future__ import annotations

import re
from collections.abc import Generator
from types import TracebackType
from typing import Any

from client.errors import ClientError, Reply
from client.events import Event, EventStream
from client.transport import ReplyHook
from client.verbs.calls import CallState, CallVerbs
from client.verbs.matching import MatchVerbs
from client.verbs.people import PeopleVerbs
from client.verbs.props import PropsVerbs
from client.verbs.rooms import RoomVerbs

__all__ = ["CallState", "ClientError", "Event", "EventStream", "Reply", "ReplyHook",
           "VoiceClient", "user_from_name"]

_USER_CHARS = re.compile(r"[^A-Za-z0-9_.-]+")


def user_from_name(name: str) -> str:
    """A development-mode user id derived from a display name ("Ada L." -> "ada-l.")."""
    slug = _USER_CHARS.sub("-", name.strip().lower()).strip("-")[:64]
    return slug or "user"


class _Connect:
    """What `VoiceClient.connect()` returns: awaitable, or an async context manager."""

    def __init__(self, client: VoiceClient) -> None:
        self._client = client

    def __await__(self) -> Generator[Any, None, VoiceClient]:
        return self._start().__await__()

    async def _start(self) -> VoiceClient:
        await self._client._start()
        return self._client

    async def __aenter__(self) -> VoiceClient:
        return await self._start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._client.close()


class VoiceClient(PropsVerbs, MatchVerbs, CallVerbs, PeopleVerbs, RoomVerbs):
    """A signaling connection to one server. Create it with `VoiceClient.connect()`.

    Options (keyword): `app`, `verified`, `city` (what `hello` claims in development mode;
    `app` and `verified` then hold what the server granted), `reconnect`, `reconnect_for`,
    `request_timeout`, `history` (events kept for `wait_for`; 0 turns it off),
    `on_reply(type, seconds, code)`, `on_event(event)`.
    """

    def __init__(self, url: str, *, user: str | None = None, name: str | None = None,
                 token: str | None = None, **options: Any) -> None:
        if token is None and user is None and name is not None:
            user = user_from_name(name)
        super().__init__(url, user=user, name=name, token=token, **options)

    @classmethod
    def connect(
        cls,
        url: str,
        *,
        user: str | None = None,
        name: str | None = None,
        token: str | None = None,
        binary: bool = True,
        **options: Any,
    ) -> _Connect:
        """Open the socket and say hello: `async with VoiceClient.connect(...) as c`
        (closes on exit) or `c = await VoiceClient.connect(...)` (call `close()`)."""
        return _Connect(cls(url, user=user, name=name, token=token, binary=binary, **options))

    async def __aenter__(self) -> VoiceClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()
