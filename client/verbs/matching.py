"""Matching verbs (docs/protocol.md "Random matching (連線)"): `match_join`, `match_leave`,
`report`, and the matches this client was given.

`match_found {call, peer}` arrives unasked once the server pairs this user; the call is
active at once and is kept with the other calls (client/verbs/calls.py), the peer's card
`{user, name, city, tags}` in `peers` by call id. `next_match()` waits for the next one.
While waiting, `waiting` holds the preferences asked for; when the connection drops the
server takes the user out of the queue, so a reconnect asks again with the same ones.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

from client.errors import ClientError, Reply
from client.events import Event
from client.transport import Transport

# Peer cards kept, newest last (one per match call).
KEEP_PEERS = 100


class MatchVerbs(Transport):
    def __init__(self, url: str, **options: Any) -> None:
        super().__init__(url, **options)
        self.waiting: dict[str, Any] | None = None
        """The preferences of the `match_join` in force (None: not waiting)."""
        self.peers: OrderedDict[str, dict[str, Any]] = OrderedDict()
        """call id -> the peer's card, for this client's match calls."""

    async def match_join(self, *, city: str | None = None,
                         tags: Sequence[str] | None = None) -> Reply:
        """Wait to be matched (`city`: "same" or "any"; `tags`: default the profile's);
        asked again while waiting: new preferences."""
        return await self.request("match_join", city=city,
                                  tags=None if tags is None else list(tags))

    async def match_leave(self) -> Reply:
        return await self.request("match_leave")

    async def report(self, user: str, reason: str) -> Reply:
        """Report someone met in a room, a call or a match (kept for moderators)."""
        return await self.request("report", user=user, reason=reason)

    async def next_match(self, timeout: float = 30.0) -> Event:
        """The next `match_found {call, peer}` (one that arrived earlier counts, once)."""
        return await self.wait_for("match_found", timeout=timeout)

    # ---- keeping state ------------------------------------------------------------------

    def _dispatch_event(self, event: Event) -> None:
        if event.get("type") == "match_found":
            self.waiting = None
            call, peer = event.get("call"), event.get("peer")
            if isinstance(call, dict) and isinstance(call.get("id"), str) \
                    and isinstance(peer, dict):
                self.peers[call["id"]] = dict(peer)
                while len(self.peers) > KEEP_PEERS:
                    self.peers.popitem(last=False)
        super()._dispatch_event(event)

    def _replied(self, type: str, params: dict[str, Any], reply: Reply) -> None:
        super()._replied(type, params, reply)
        if reply.get("type") != "ok":
            return
        if type == "match_join":
            self.waiting = dict(params)
        elif type == "match_leave":
            self.waiting = None

    async def _restore(self) -> list[str] | None:
        rooms = await super()._restore()
        if rooms is None or self.waiting is None:
            return rooms
        try:
            reply = await self.request_raw("match_join", dict(self.waiting), internal=True)
        except ClientError:
            return None  # lost again: asked anew after the next reconnect
        if reply.get("type") != "ok":
            self.waiting = None  # matched meanwhile (in the call now), or no longer allowed
        return rooms
