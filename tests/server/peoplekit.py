"""Helpers for the people and call tests over the wire: clients that say hello with an app."""

from __future__ import annotations

from typing import Any

from tests.support.server import WireClient


async def person(url: str, user: str, app: str = "main", *, binary: bool = True,
                 **hello: Any) -> WireClient:
    """A connected client whose hello named `user` and `app` (development mode)."""
    client = await WireClient.connect(url, binary=binary)
    reply = await client.call("hello", user=user, app=app, **hello)
    client.user = reply["user"]
    return client


async def befriend(a: WireClient, b: WireClient) -> None:
    """Each follows the other in their connection's app (they must share one)."""
    assert b.user is not None and a.user is not None
    await a.call("follow", user=b.user)
    reply = await b.call("follow", user=a.user)
    assert reply["mutual"] is True


async def next_personal(client: WireClient, timeout: float = 10.0) -> dict[str, Any]:
    """The next event that is not a room's."""
    while True:
        message = await client.next_message(timeout)
        if "room" not in message:
            return message
