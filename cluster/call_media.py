"""A call's media lives on one node, like a room's: its owner, holding a lease on the call's
owner key (store/keys.py) while the call exists.

The first `webrtc_offer {call}` claims the call for the node it reached (if that node has
media); an offer reaching another node is forwarded to the owner (cluster/forwarding.py, kind
"call"), so both parties' peer connections end on one node and the relay between them stays
local. The lease needs the call's record: when the call ends (the record is deleted) the
renewal fails and the media is dropped, which is also what happens on the node that missed
the call's end. When the owner dies, a survivor clears its leases and the parties are told
(`call_state`): they offer again and the next offer claims the call on a live node.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from cluster.forwarding import NotOwner, OfferForwarder, Unreachable
from cluster.leases import Leases
from cluster.nodes import NodeRegistry
from protocol.errors import ErrorCode, ProtocolError
from store.calls import CallStore
from store.redis import RedisStore
from store.wire import as_text

log = logging.getLogger(__name__)

OFFER_ATTEMPTS = 3
RESOLVE_ATTEMPTS = 10
RETRY_DELAY = 0.2

# The parties of a call whose media moved must offer again: tell them (call id).
Announce = Callable[[str], Awaitable[None]]


class CallMediaOwnership:
    def __init__(self, store: RedisStore, engine: Any | None, calls: CallStore,
                 leases: Leases, nodes: NodeRegistry, forwarder: OfferForwarder, *,
                 announce: Announce | None = None) -> None:
        self.store = store
        self.redis = store.redis
        self.keys = store.keys
        self.node_id = store.node_id
        self.engine = engine if engine is not None and hasattr(engine, "offer_call") else None
        self.calls = calls
        self.leases = leases
        self.nodes = nodes
        self.forwarder = forwarder
        self.announce = announce
        self.owned: set[str] = set()

    async def owner_of(self, call_id: str) -> str | None:
        return await self.leases.holder(self.keys.call_owner(call_id))

    async def offer(self, call_id: str, user: str, sdp: str) -> str:
        """Answer a party's offer on the call's media owner, claiming the call if free."""
        for _ in range(OFFER_ATTEMPTS):
            owner = await self._resolve(call_id)
            if owner == self.node_id:
                return await self._answer(call_id, user, sdp)
            try:
                return await self.forwarder.forward(owner, call_id, user, sdp, kind="call")
            except NotOwner:
                continue
            except Unreachable as exc:
                if not await self._take_over_if_dead(call_id, owner, deaf=not exc.listening):
                    await asyncio.sleep(RETRY_DELAY)
        raise ProtocolError(ErrorCode.INTERNAL, "the call's media node cannot be reached")

    async def answer_forwarded(self, call_id: str, user: str, sdp: str) -> str:
        if await self.owner_of(call_id) != self.node_id:
            raise NotOwner(self.node_id)
        if call_id not in self.owned:
            await self._claimed(call_id, previous=None)
        return await self._answer(call_id, user, sdp)

    async def _resolve(self, call_id: str) -> str:
        key = self.keys.call_owner(call_id)
        for _ in range(RESOLVE_ATTEMPTS):
            owner = await self.leases.holder(key)
            if owner is None:
                if self.engine is None:
                    raise ProtocolError(ErrorCode.INTERNAL, "no media node serves this call")
                if await self.leases.claim(key):
                    await self._claimed(call_id, previous=None)
                    return self.node_id
                continue  # claimed by another node between the read and the claim
            if owner == self.node_id and call_id not in self.owned:
                await self._claimed(call_id, previous=None)  # an earlier life's lease
            if owner != self.node_id and self.engine is not None \
                    and not await self.nodes.alive(owner):
                if await self._take_over_if_dead(call_id, owner):
                    return self.node_id
                continue
            return owner
        raise ProtocolError(ErrorCode.INTERNAL, "the call's media owner keeps changing")

    async def _take_over_if_dead(self, call_id: str, owner: str, *, deaf: bool = False) -> bool:
        if self.engine is None or (not deaf and await self.nodes.alive(owner)):
            return False
        if await self.leases.take_over(self.keys.call_owner(call_id), owner):
            await self._claimed(call_id, previous=owner)
            return True
        return False

    async def _claimed(self, call_id: str, *, previous: str | None) -> None:
        self.owned.add(call_id)
        await self.redis.sadd(self.keys.node_calls(self.node_id), call_id)
        if previous is not None and previous != self.node_id:
            log.info("call %s: media taken over from %s", call_id, previous)
            await self._announce(call_id)

    async def _announce(self, call_id: str) -> None:
        if self.announce is not None:
            try:
                await self.announce(call_id)
            except Exception:
                log.exception("announcing the new media node of call %s failed", call_id)

    async def _answer(self, call_id: str, user: str, sdp: str) -> str:
        if self.engine is None:
            raise ProtocolError(ErrorCode.INTERNAL, "this node serves no call media")
        stored = await self.calls.load(call_id)
        if stored is None or stored.call.role_of(user) is None:
            raise ProtocolError(ErrorCode.NO_SUCH_CALL, f"no call {call_id!r}")
        answer: str = await self.engine.offer_call(stored.call, user, sdp)
        return answer

    async def renew(self) -> None:
        """Renew the leases of the calls this node serves; drop the media of those lost (the
        call ended, or another node took it)."""
        calls = sorted(self.owned)
        if not calls:
            return
        renewed = await self.leases.renew(
            [(self.keys.call_owner(call_id), self.keys.call(call_id)) for call_id in calls])
        for call_id, kept in zip(calls, renewed, strict=True):
            if not kept:
                await self._lost(call_id)

    async def _lost(self, call_id: str) -> None:
        self.owned.discard(call_id)
        await self.redis.srem(self.keys.node_calls(self.node_id), call_id)
        if self.engine is not None:
            result = self.engine.end_call(call_id)
            if inspect.isawaitable(result):
                await result

    async def recover(self, dead: str) -> None:
        """Clear a dead node's call leases; the parties of each live call offer again."""
        key = self.keys.node_calls(dead)
        for call_id in [as_text(c) for c in await self.redis.smembers(key)]:
            await self.leases.clear(self.keys.call_owner(call_id), dead)
            if dead == self.node_id:
                self.owned.discard(call_id)
            await self._announce(call_id)
        await self.redis.delete(key)
