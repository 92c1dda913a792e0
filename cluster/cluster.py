"""Several nodes on one Redis: a room's media lives on one node, its owner.

Ownership is a lease (cluster/leases.py) on the room's owner key that the owner renews while
the room exists. The first `webrtc_offer` of a room claims it; an offer that reaches another
node is forwarded to the owner (cluster/forwarding.py), whose MediaEngine answers, so the
answer's ICE candidates point at the owner.

Nodes register and heartbeat (cluster/nodes.py). Every node watches the others: the first to
see a heartbeat gone clears the dead node's ownerships, publishes `room_state` for its rooms
(members offer again and the next offer claims the room on a survivor), and reports the
members that were connected through it as disconnected, so their seats go `away` and grace
runs as usual. The key names are in store/keys.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

from redis.exceptions import RedisError

from cluster.call_media import Announce, CallMediaOwnership
from cluster.forwarding import NotOwner, OfferForwarder, Unreachable
from cluster.leases import Leases
from cluster.nodes import NodeRegistry, parse_presence
from protocol.errors import ErrorCode, ProtocolError
from rooms.machine import Event
from rooms.model import Room
from store.calls import CallStore
from store.redis import RedisStore
from store.wire import as_text, pack, unpack

log = logging.getLogger(__name__)

LEASE = 5.0  # seconds an owner keeps a room without renewing
NODE_TTL = 3.0  # seconds a node counts as alive after its last heartbeat
HEARTBEAT = 1.0  # seconds between heartbeats (and checks of the other nodes)
OFFER_TIMEOUT = 10.0  # seconds to wait for the owner's answer (ICE gathering included)
OFFER_ATTEMPTS = 3
RESOLVE_ATTEMPTS = 10  # reads of a room's owner while claims race
RETRY_DELAY = 0.2
# redis-py can swallow a cancellation that lands mid-command; loops also watch a flag, and
# close() waits this long at most for them.
STOP_TIMEOUT = 5.0

# (room id, user) of a member whose connection was on a node that died.
PresenceLost = Callable[[str, str], Awaitable[None]]
# (room id, user) of a member connected through this node, after the others took this node
# for dead (a stall longer than the heartbeat TTL) and reported the member disconnected.
PresenceBack = Callable[[str, str], Awaitable[None]]
# A node died (its id): what else it held goes (connections, for presence and calls).
NodeLost = Callable[[str], Awaitable[None]]
# This node was taken for dead and is back: what others wiped of it is written again.
BackFromTheDead = Callable[[], Awaitable[None]]


class MediaEngineLike(Protocol):
    def offer(self, room: Room, user: str, sdp: str) -> Awaitable[str]: ...

    def close_room(self, room_id: str) -> Any: ...

    def speaking_levels(self, room_id: str) -> Mapping[str, float]: ...


class Cluster:
    """This node's membership in the cluster; the gateway calls `offer`, `joined`, `left`."""

    def __init__(
        self,
        store: RedisStore,
        engine: MediaEngineLike | None,
        *,
        on_presence_lost: PresenceLost | None = None,
        on_presence_back: PresenceBack | None = None,
        lease: float = LEASE,
        node_ttl: float = NODE_TTL,
        heartbeat: float = HEARTBEAT,
        offer_timeout: float = OFFER_TIMEOUT,
        info: dict[str, Any] | None = None,
    ) -> None:
        self.store = store
        self.engine = engine
        self.node_id = store.node_id
        self.keys = store.keys
        self.on_presence_lost = on_presence_lost
        self.on_presence_back = on_presence_back
        self.heartbeat = heartbeat
        self.leases = Leases(store, lease=lease)
        self.nodes = NodeRegistry(store, node_ttl=node_ttl, info=info)
        self.forwarder = OfferForwarder(store, self._answer_forwarded, timeout=offer_timeout)
        self._owned: set[str] = set()
        # A call's media is owned like a room's (cluster/call_media.py; `serve_calls`).
        self.call_media: CallMediaOwnership | None = None
        self.node_lost_hooks: list[NodeLost] = []
        self.back_hooks: list[BackFromTheDead] = []
        # After a failed heartbeat the others' may have failed too (Redis was away): judge
        # nobody dead until they had time to beat again.
        self._judge_after = 0.0
        self._loops: list[asyncio.Task[None]] = []
        self._running = False
        self._subscribed = asyncio.Event()

    # -- life cycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Join: clear what an earlier life of this node id left behind, then heartbeat."""
        await self._recover(self.node_id)
        await self.nodes.beat()
        self._running = True
        self._loops = [
            asyncio.create_task(self._inbox_loop(), name="cluster-inbox"),
            asyncio.create_task(self._heartbeat_loop(), name="cluster-heartbeat"),
            asyncio.create_task(self._lease_loop(), name="cluster-leases"),
        ]
        await self._subscribed.wait()

    async def close(self) -> None:
        """Leave cleanly: give up the leases so survivors claim the rooms at once."""
        self._running = False
        for task in self._loops:
            task.cancel()
        if self._loops:
            await asyncio.wait(self._loops, timeout=STOP_TIMEOUT)
        self._loops = []
        self.forwarder.close()
        with contextlib.suppress(RedisError, OSError):
            # Members elsewhere must offer again: tell them, as a survivor would.
            await self._recover(self.node_id)
            await self.nodes.leave()

    def serve_calls(self, calls: CallStore, announce: Announce | None = None) -> None:
        """Own calls' media too: `calls` is where calls live, `announce(call_id)` tells a
        call's parties to offer again after its media moved."""
        self.call_media = CallMediaOwnership(self.store, self.engine, calls, self.leases,
                                             self.nodes, self.forwarder, announce=announce)

    # -- presence (called by the gateway) -----------------------------------------------------

    async def joined(self, room_id: str, user: str) -> None:
        """A connection of `user` on this node is now in `room_id`."""
        await self.nodes.joined(room_id, user)

    async def left(self, room_id: str, user: str) -> None:
        """This node has no connection of `user` in `room_id` any more."""
        await self.nodes.left(room_id, user)

    # -- media ownership ----------------------------------------------------------------------

    def owns(self, room_id: str) -> bool:
        return room_id in self._owned

    async def owner_of(self, room_id: str) -> str | None:
        return await self.leases.holder(self.keys.owner(room_id))

    async def media_node(self, room_id: str) -> str:
        """The node serving the room's media, claiming the room for this node when nobody
        does, as a first offer would (an HTTP listener of a room without media yet)."""
        return await self._resolve_owner(room_id)

    async def http_address(self, node_id: str) -> tuple[str, int] | None:
        """Where ``node_id`` serves HTTP (its listen.ogg), as it registered it."""
        return await self.nodes.http_address(node_id)

    async def offer(self, room_id: str, user: str, sdp: str) -> str:
        """Answer `user`'s offer for `room_id` on the room's owner, claiming the room if free."""
        for _ in range(OFFER_ATTEMPTS):
            owner = await self._resolve_owner(room_id)
            if owner == self.node_id:
                return await self._answer(room_id, user, sdp)
            try:
                return await self.forwarder.forward(owner, room_id, user, sdp)
            except NotOwner:
                continue
            except Unreachable as exc:
                if not await self._take_over_if_dead(room_id, owner, deaf=not exc.listening):
                    await asyncio.sleep(RETRY_DELAY)
        raise ProtocolError(ErrorCode.INTERNAL, "the room's media node cannot be reached")

    async def share_levels(self, room_id: str, levels: dict[str, float]) -> None:
        """The room's speaking levels, measured by its mixer on this node (the media owner),
        to the members connected through the other nodes; and who is speaking now, kept in
        the store for the nodes where a member joins later (`current_levels`)."""
        await self._keep_levels(room_id)
        await self.store.broadcast(room_id, [Event("speaking", {"levels": levels})])

    async def current_levels(self, room_id: str) -> dict[str, float]:
        """Who is speaking in the room now, as its media owner last kept it ({}: nobody, or
        no owner for a lease's time)."""
        raw = await self.store.redis.get(self.keys.levels(room_id))
        if raw is None:
            return {}
        levels = unpack(raw)
        if not isinstance(levels, dict):
            return {}
        return {str(user): float(level) for user, level in levels.items()
                if isinstance(level, int | float) and level > 0}

    async def _keep_levels(self, room_id: str, *, renewing: bool = False) -> None:
        # The whole current map, not the change: a reader needs no history. It lives a
        # lease's time and is renewed with the lease, so a dead owner's map goes with it.
        current = dict(self.engine.speaking_levels(room_id)) if self.engine is not None else {}
        key = self.keys.levels(room_id)
        if current:
            await self.store.redis.set(key, pack(current), px=self.leases.lease_ms)
        elif not renewing:  # a silent room's map was deleted when its last speaker stopped
            await self.store.redis.delete(key)

    async def _resolve_owner(self, room_id: str) -> str:
        key = self.keys.owner(room_id)
        for _ in range(RESOLVE_ATTEMPTS):
            owner = await self.leases.holder(key)
            if owner is None:
                if self.engine is None:
                    # A signaling-only node must not take a room it cannot serve.
                    raise ProtocolError(ErrorCode.INTERNAL, "no media node serves this room")
                if await self.leases.claim(key):
                    await self._claimed(room_id, previous=None)
                    return self.node_id
                continue  # someone else claimed it between GET and SET: read who
            if owner == self.node_id and room_id not in self._owned:
                # A lease left by an earlier life of this node id: the media is gone.
                await self._claimed(room_id, previous=owner)
            if owner != self.node_id and self.engine is not None \
                    and not await self.nodes.alive(owner):
                if await self._take_over_if_dead(room_id, owner):
                    return self.node_id
                continue  # it came back, or another node took the room: read who
            return owner
        raise ProtocolError(ErrorCode.INTERNAL, "the room's media owner keeps changing")

    async def _take_over_if_dead(self, room_id: str, owner: str, *, deaf: bool = False) -> bool:
        if self.engine is None or (not deaf and await self.nodes.alive(owner)):
            return False
        if await self.leases.take_over(self.keys.owner(room_id), owner):
            await self._claimed(room_id, previous=owner)
            return True
        return False

    async def _claimed(self, room_id: str, *, previous: str | None) -> None:
        self._owned.add(room_id)
        await self.store.redis.sadd(self.keys.owned(self.node_id), room_id)
        if previous is not None:
            log.info("room %s: media taken over from %s", room_id, previous)
            await self._announce_takeover(room_id)

    async def _announce_takeover(self, room_id: str) -> None:
        # Members' peer connections went to the old owner: they must offer again.
        await self.store.notify(room_id, [Event("room_state", {})])

    async def _answer(self, room_id: str, user: str, sdp: str) -> str:
        if self.engine is None:
            raise ProtocolError(ErrorCode.INTERNAL, "this node serves no media")
        room = await self.store.load(room_id)
        if room is None:
            raise ProtocolError(ErrorCode.NO_SUCH_ROOM, f"no room {room_id}")
        if not room.is_member(user):
            raise ProtocolError(ErrorCode.NOT_IN_ROOM, f"{user} is not in room {room_id}")
        return await self.engine.offer(room, user, sdp)

    async def offer_call(self, call_id: str, user: str, sdp: str) -> str:
        """Answer a party's offer for a call on the call's media owner (claiming it if free)."""
        if self.call_media is None:
            raise ProtocolError(ErrorCode.INTERNAL, "call media is not served by this cluster")
        return await self.call_media.offer(call_id, user, sdp)

    async def _answer_forwarded(self, kind: str, room_id: str, user: str, sdp: str) -> str:
        if kind == "call":
            if self.call_media is None:
                raise NotOwner(self.node_id)
            return await self.call_media.answer_forwarded(room_id, user, sdp)
        if await self.owner_of(room_id) != self.node_id:
            raise NotOwner(self.node_id)
        if room_id not in self._owned:
            await self._claimed(room_id, previous=self.node_id)
        return await self._answer(room_id, user, sdp)

    # -- loops --------------------------------------------------------------------------------

    async def _inbox_loop(self) -> None:
        await self.forwarder.listen(running=lambda: self._running,
                                    subscribed=self._subscribed, poll=self.heartbeat)

    async def _heartbeat_loop(self) -> None:
        while self._running:
            await asyncio.sleep(self.heartbeat)
            try:
                if await self.nodes.beat():
                    await self._back_from_the_dead()
                if time.monotonic() >= self._judge_after:
                    for node_id in await self.nodes.newly_dead():
                        log.warning("node %s is gone; taking over its rooms", node_id)
                        await self._recover(node_id)
            except (RedisError, OSError) as exc:
                log.warning("cluster heartbeat failed: %s", exc)
                self._judge_after = time.monotonic() + 2 * self.nodes.node_ttl_ms / 1000

    async def _back_from_the_dead(self) -> None:
        """Another node took this one for dead: restore presence, let members rejoin.

        The leases are gone already (`_renew_leases` drops the media); the members were marked
        away, and a join from their still-open connection brings them back.
        """
        log.warning("this node was taken for dead (stalled?); restoring its members")
        for hook in self.back_hooks:
            try:
                await hook()
            except Exception:
                log.exception("restoring after being taken for dead failed")
        entries = await self.nodes.restore_presence()
        if self.on_presence_back is None:
            return
        for entry in entries:
            room_id, user = parse_presence(entry)
            try:
                await self.on_presence_back(room_id, user)
            except ProtocolError:
                pass  # the room closed or the member was removed meanwhile
            except Exception:
                log.exception("rejoin of %s in %s failed", user, room_id)

    async def _recover(self, dead: str) -> None:
        """Clear a dead node's leases (announcing them) and report its members disconnected."""
        owned_key = self.keys.owned(dead)
        owned = [as_text(r) for r in await self.store.redis.smembers(owned_key)]
        for room_id in owned:
            await self.leases.clear(self.keys.owner(room_id), dead)
            await self.store.redis.delete(self.keys.levels(room_id))  # its mixer is gone
            if dead == self.node_id:
                self._owned.discard(room_id)
            await self._announce_takeover(room_id)
        await self.store.redis.delete(owned_key)
        await self._rooms_presence_lost(dead)
        # Calls after rooms (a seat's grace must not wait for them).
        if self.call_media is not None:
            await self.call_media.recover(dead)
        # Also for this node's own id at start: what an earlier life left behind goes.
        for hook in self.node_lost_hooks:
            try:
                await hook(dead)
            except Exception:
                log.exception("cleaning up after node %s failed", dead)

    async def _rooms_presence_lost(self, dead: str) -> None:
        """Report the members connected through a dead node disconnected from their rooms."""
        entries = await self.nodes.take_presence(dead)
        if not entries or self.on_presence_lost is None:
            return
        live = await self.nodes.registered(but=dead)
        for entry in entries:
            room_id, user = parse_presence(entry)
            # The user may already be back through another node: then nothing was lost.
            if await self.nodes.present_elsewhere(live, entry):
                continue
            try:
                await self.on_presence_lost(room_id, user)
            except ProtocolError:
                pass  # the room or the member is gone already
            except Exception:
                log.exception("disconnect of %s in %s after node loss failed", user, room_id)

    async def _lease_loop(self) -> None:
        interval = self.leases.lease_ms / 3000
        while self._running:
            await asyncio.sleep(interval)
            try:
                await self._renew_leases()
                if self.call_media is not None:
                    await self.call_media.renew()
            except (RedisError, OSError) as exc:
                log.warning("lease renewal failed: %s", exc)

    async def _renew_leases(self) -> None:
        rooms = sorted(self._owned)
        if not rooms:
            return
        renewed = await self.leases.renew(
            [(self.keys.owner(room_id), self.keys.room(room_id)) for room_id in rooms])
        for room_id, kept in zip(rooms, renewed, strict=True):
            if not kept:
                await self._lost(room_id)
            else:
                await self._keep_levels(room_id, renewing=True)

    async def _lost(self, room_id: str) -> None:
        self._owned.discard(room_id)
        await self.store.redis.srem(self.keys.owned(self.node_id), room_id)
        if self.engine is not None:
            result = self.engine.close_room(room_id)
            if inspect.isawaitable(result):
                await result
