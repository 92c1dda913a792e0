"""Call verbs (docs/protocol.md "Calls (one to one)"), and the calls this client knows.

Each method is one request and returns its `ok` reply (or raises `ClientError`). The client
keeps the newest CallState of every call it is party to in `calls` (from replies and from
`call_incoming`, `call_state`, `call_ended`), so that a program can wait for a call to be
answered or to end whichever way the news came: `wait_call(id, "active")`. After a
reconnect, `list_calls` refreshes them (a live call the server no longer lists has ended).

`call_ended {reason: "answered_elsewhere"}` (another of our connections picked up) means
the call goes on without this connection: `ended_here(id)` is then true although the call's
own state is `active`.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from typing import Any

from client.errors import ClientError, Reply
from client.events import Event
from client.transport import Transport

CallState = dict[str, Any]

LIVE = ("ringing", "active")
# Ended calls kept for `wait_call` and `calls`, newest last; live ones are never dropped.
KEEP_ENDED = 100
_CALL_EVENTS = ("call_incoming", "call_state", "call_ended", "match_found")


class CallVerbs(Transport):
    def __init__(self, url: str, **options: Any) -> None:
        super().__init__(url, **options)
        self.calls: OrderedDict[str, CallState] = OrderedDict()
        """Every call this client took part in lately, by id: the newest CallState."""
        self.elsewhere: set[str] = set()
        """Calls that another connection of this user answered."""
        self._changed = asyncio.Event()

    # ---- reading ------------------------------------------------------------------------

    def live_calls(self) -> list[CallState]:
        """Ringing or active calls of this connection, oldest first."""
        return [c for c in self.calls.values()
                if c.get("state") in LIVE and c.get("id") not in self.elsewhere]

    def ended_here(self, call_id: str) -> bool:
        call = self.calls.get(call_id)
        return call_id in self.elsewhere or (call is not None and call.get("state") == "ended")

    def role_in(self, call: CallState) -> str | None:
        """`caller`, `callee`, or None when this user is neither."""
        for role in ("caller", "callee"):
            party = call.get(role)
            if isinstance(party, dict) and party.get("user") == self.user:
                return role
        return None

    def peer_of(self, call: CallState) -> dict[str, Any]:
        """The other party: `{user, name, ...}`."""
        role = self.role_in(call)
        other = call.get("callee" if role == "caller" else "caller")
        return other if isinstance(other, dict) else {}

    async def incoming(self, timeout: float = 30.0) -> CallState:
        """The next `call_incoming`'s CallState (one that arrived earlier counts, once)."""
        event = await self.wait_for("call_incoming", timeout=timeout)
        return dict(event["call"])

    async def wait_call(self, call_id: str, *states: str, timeout: float = 10.0) -> CallState:
        """The call's CallState once it is in one of `states` (default: `ended`); a call
        answered by another connection counts as `ended` here. ClientError("timeout")."""
        wanted = states or ("ended",)
        deadline = time.monotonic() + timeout
        while True:
            call = self.calls.get(call_id)
            if call is not None:
                state = "ended" if call_id in self.elsewhere else call.get("state")
                if state in wanted:
                    return call
            if self.closed:
                raise ClientError("closed", f"closed while waiting for call {call_id}")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ClientError("timeout", f"call {call_id} not {'/'.join(wanted)} "
                                  f"within {timeout} s")
            changed = self._changed
            try:
                await asyncio.wait_for(changed.wait(), remaining)
            except TimeoutError:
                continue

    # ---- the verbs ----------------------------------------------------------------------

    async def call(self, user: str, *, video: bool = False) -> Reply:
        """`{call}`, ringing; or, when `user`'s call to us is ringing, that call, active."""
        return await self.request("call", user=user, video=video or None)

    async def answer_call(self, call: str) -> Reply:
        return await self.request("answer_call", call=call)

    async def decline_call(self, call: str) -> Reply:
        return await self.request("decline_call", call=call)

    async def hangup(self, call: str) -> Reply:
        return await self.request("hangup", call=call)

    async def list_calls(self) -> Reply:
        """`{calls: [CallState]}`: this user's calls that have not ended."""
        return await self.request("list_calls")

    async def call_offer(self, call: str, sdp: str) -> Reply:
        """`webrtc_offer {call, sdp}` for an active call: `{sdp}`, the answer."""
        return await self.request("webrtc_offer", call=call, sdp=sdp)

    # ---- keeping `calls` ----------------------------------------------------------------

    def _note(self, call: Any) -> None:
        if not isinstance(call, dict) or not isinstance(call.get("id"), str):
            return
        call_id = call["id"]
        self.calls[call_id] = dict(call)
        self.calls.move_to_end(call_id)
        ended = [k for k, c in self.calls.items() if c.get("state") not in LIVE]
        for old in ended[: max(0, len(ended) - KEEP_ENDED)]:
            del self.calls[old]
            self.elsewhere.discard(old)
        self._changed.set()
        self._changed = asyncio.Event()

    def _end_locally(self, call_id: str, reason: str) -> None:
        """Our own decline or hangup succeeded: no event tells us, the reply did."""
        call = self.calls.get(call_id)
        if call is not None and call.get("state") in LIVE:
            self._note({**call, "state": "ended", "reason": reason})

    def _dispatch_event(self, event: Event) -> None:
        kind = event.get("type")
        if kind in _CALL_EVENTS:
            call = event.get("call")
            if (kind == "call_ended" and event.get("reason") == "answered_elsewhere"
                    and isinstance(call, dict) and isinstance(call.get("id"), str)):
                self.elsewhere.add(call["id"])
            self._note(call)
        super()._dispatch_event(event)

    def _emit(self, event: Event) -> None:
        super()._emit(event)
        if event.get("type") == "_closed":
            self._changed.set()  # wake `wait_call`: nothing more will come

    def _replied(self, type: str, params: dict[str, Any], reply: Reply) -> None:
        super()._replied(type, params, reply)
        if reply.get("type") != "ok":
            return
        if type in ("call", "answer_call"):
            self._note(reply.get("call"))
        elif type == "decline_call":
            self._end_locally(str(params["call"]), "declined")
        elif type == "hangup":
            call_id = str(params["call"])
            call = self.calls.get(call_id) or {}
            ringing = call.get("state") == "ringing"
            role = self.role_in(call) if call else None
            reason = ("cancelled" if ringing and role == "caller"
                      else "declined" if ringing else "hangup")
            self._end_locally(call_id, reason)
        elif type == "list_calls":
            self._refresh(reply.get("calls"))

    def _refresh(self, listed: Any) -> None:
        """The server's list of our live calls: what it no longer lists has ended."""
        calls = [c for c in listed or [] if isinstance(c, dict) and isinstance(c.get("id"), str)]
        ids = {c["id"] for c in calls}
        for call in list(self.calls.values()):
            if call.get("state") in LIVE and call["id"] not in ids:
                self._note({**call, "state": "ended", "reason": call.get("reason")})
        for call in calls:
            self._note(call)

    async def _restore(self) -> list[str] | None:
        rooms = await super()._restore()
        if rooms is None:
            return None
        try:
            reply = await self.request_raw("list_calls", {}, internal=True)
        except ClientError:
            return None  # lost again: restored anew after the next reconnect
        # request_raw handed the reply to _replied, which refreshed `calls`; an error reply
        # is an older server without calls.
        del reply
        return rooms
