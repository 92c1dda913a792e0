"""Several nodes on one Redis: node registry, room media ownership, offer forwarding.

A room's media (its mixer and every member's peer connection) lives on one node, its owner.
Ownership is a lease: `vr:{<room>}:owner` = node id with a PX expiry that the owner renews
while the room exists. The first `webrtc_offer` of a room claims it (SET NX); an offer that
reaches another node is forwarded over Redis to the owner, whose MediaEngine answers, so the
answer's ICE candidates point at the owner.

Nodes announce themselves in `vr:nodes` and keep a heartbeat key `vr:node:<id>` alive. Every
node watches the others: the first to see a heartbeat gone (HDEL of its registry entry decides
who) clears the dead node's ownerships, publishes `room_state` for its rooms (members offer
again and the next offer claims the room on a survivor), and reports the members that were
connected through it as disconnected, so their seats go `away` and grace runs as usual.

Keys besides the store's: `vr:nodes` (hash id -> msgpack info), `vr:node:<id>` (heartbeat,
PX), `vr:node:<id>:owned` (set of room ids), `vr:node:<id>:presence` (set of "room<TAB>user"
connected through that node), channel `vr:node:<id>:inbox` (offer requests and replies).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import msgpack
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from protocol.errors import ErrorCode, ProtocolError
from rooms.machine import Event
from rooms.model import Room
from store.redis import RedisStore, as_text, pack, subscribe_forever

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

# KEYS: owner key. ARGV: expected owner, new owner, lease ms. Compare-and-set.
_CAS_LUA = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  if ARGV[2] == '' then redis.call('DEL', KEYS[1]) return 1 end
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  return 1
end
return 0
"""

# KEYS: owner key, room key. ARGV: node id, lease ms. 1: renewed; 0: lost or room gone.
_RENEW_LUA = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if redis.call('EXISTS', KEYS[2]) == 0 then
  redis.call('DEL', KEYS[1])
  return 0
end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
"""


class MediaEngineLike(Protocol):
    def offer(self, room: Room, user: str, sdp: str) -> Awaitable[str]: ...

    def close_room(self, room_id: str) -> Any: ...


class _NotOwner(Exception):
    pass


class _Unreachable(Exception):
    def __init__(self, owner: str, *, listening: bool) -> None:
        super().__init__(owner)
        # False: nobody is subscribed to the owner's inbox, so it is dead (or restarting
        # without its media): the room may be taken at once, its lease notwithstanding.
        self.listening = listening


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
        self.redis: aioredis.Redis = store.redis
        self.on_presence_lost = on_presence_lost
        self.on_presence_back = on_presence_back
        self.lease_ms = int(lease * 1000)
        self.node_ttl_ms = int(node_ttl * 1000)
        self.heartbeat = heartbeat
        self.offer_timeout = offer_timeout
        self.info = dict(info or {})
        prefix = store.keys.prefix
        self._nodes_key = f"{prefix}:nodes"
        self._prefix = prefix
        self._cas = self.redis.register_script(_CAS_LUA)
        self._renew = self.redis.register_script(_RENEW_LUA)
        self._owned: set[str] = set()
        # This node's presence entries, mirrored: restored if another node wiped them.
        self._presence: set[str] = set()
        # After a failed heartbeat the others' may have failed too (Redis was away): judge
        # nobody dead until they had time to beat again.
        self._judge_after = 0.0
        self._pending: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._loops: list[asyncio.Task[None]] = []
        self._running = False
        self._subscribed = asyncio.Event()

    # -- key names ----------------------------------------------------------------------------

    def heartbeat_key(self, node_id: str) -> str:
        return f"{self._prefix}:node:{node_id}"

    def owned_key(self, node_id: str) -> str:
        return f"{self._prefix}:node:{node_id}:owned"

    def presence_key(self, node_id: str) -> str:
        return f"{self._prefix}:node:{node_id}:presence"

    def inbox(self, node_id: str) -> str:
        return f"{self._prefix}:node:{node_id}:inbox"

    # -- life cycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Join: clear what an earlier life of this node id left behind, then heartbeat."""
        await self._recover(self.node_id)
        await self._beat()
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
        for task in list(self._tasks):
            task.cancel()
        for future in self._pending.values():
            if not future.done():
                future.set_exception(
                    ProtocolError(ErrorCode.INTERNAL, "this node is shutting down"))
        with contextlib.suppress(RedisError, OSError):
            # Members elsewhere must offer again: tell them, as a survivor would.
            await self._recover(self.node_id)
            pipe = self.redis.pipeline(transaction=False)
            pipe.delete(self.heartbeat_key(self.node_id))
            pipe.hdel(self._nodes_key, self.node_id)
            await pipe.execute()

    # -- presence (called by the gateway) -----------------------------------------------------

    async def joined(self, room_id: str, user: str) -> None:
        """A connection of `user` on this node is now in `room_id`."""
        entry = f"{room_id}\t{user}"
        self._presence.add(entry)
        try:
            await self.redis.sadd(self.presence_key(self.node_id), entry)
        except (RedisError, OSError) as exc:
            # Presence only matters if this node dies; a request must not fail over it.
            log.warning("presence of %s in %s not recorded: %s", user, room_id, exc)

    async def left(self, room_id: str, user: str) -> None:
        """This node has no connection of `user` in `room_id` any more."""
        entry = f"{room_id}\t{user}"
        self._presence.discard(entry)
        try:
            await self.redis.srem(self.presence_key(self.node_id), entry)
        except (RedisError, OSError) as exc:
            log.warning("presence of %s in %s not cleared: %s", user, room_id, exc)

    # -- media ownership ----------------------------------------------------------------------

    def owns(self, room_id: str) -> bool:
        return room_id in self._owned

    async def owner_of(self, room_id: str) -> str | None:
        raw = await self.redis.get(self.store.keys.owner(room_id))
        return None if raw is None else as_text(raw)

    async def offer(self, room_id: str, user: str, sdp: str) -> str:
        """Answer `user`'s offer for `room_id` on the room's owner, claiming the room if free."""
        for _ in range(OFFER_ATTEMPTS):
            owner = await self._resolve_owner(room_id)
            if owner == self.node_id:
                return await self._answer(room_id, user, sdp)
            try:
                return await self._forward(owner, room_id, user, sdp)
            except _NotOwner:
                continue
            except _Unreachable as exc:
                if not await self._take_over_if_dead(room_id, owner, deaf=not exc.listening):
                    await asyncio.sleep(RETRY_DELAY)
        raise ProtocolError(ErrorCode.INTERNAL, "the room's media node cannot be reached")

    async def _resolve_owner(self, room_id: str) -> str:
        key = self.store.keys.owner(room_id)
        for _ in range(RESOLVE_ATTEMPTS):
            owner = await self.owner_of(room_id)
            if owner is None:
                if self.engine is None:
                    # A signaling-only node must not take a room it cannot serve.
                    raise ProtocolError(ErrorCode.INTERNAL, "no media node serves this room")
                if await self.redis.set(key, self.node_id, nx=True, px=self.lease_ms):
                    await self._claimed(room_id, previous=None)
                    return self.node_id
                continue  # someone else claimed it between GET and SET: read who
            if owner == self.node_id and room_id not in self._owned:
                # A lease left by an earlier life of this node id: the media is gone.
                await self._claimed(room_id, previous=owner)
            if owner != self.node_id and self.engine is not None \
                    and not await self._alive(owner):
                if await self._take_over_if_dead(room_id, owner):
                    return self.node_id
                continue  # it came back, or another node took the room: read who
            return owner
        raise ProtocolError(ErrorCode.INTERNAL, "the room's media owner keeps changing")

    async def _alive(self, node_id: str) -> bool:
        return bool(await self.redis.exists(self.heartbeat_key(node_id)))

    async def _take_over_if_dead(self, room_id: str, owner: str, *, deaf: bool = False) -> bool:
        if self.engine is None or (not deaf and await self._alive(owner)):
            return False
        key = self.store.keys.owner(room_id)
        if await self._cas(keys=[key], args=[owner, self.node_id, self.lease_ms]):
            await self._claimed(room_id, previous=owner)
            return True
        return False

    async def _claimed(self, room_id: str, *, previous: str | None) -> None:
        self._owned.add(room_id)
        await self.redis.sadd(self.owned_key(self.node_id), room_id)
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

    async def _forward(self, owner: str, room_id: str, user: str, sdp: str) -> str:
        request_id = uuid.uuid4().hex
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        try:
            request = {"k": "q", "id": request_id, "from": self.node_id, "room": room_id,
                       "user": user, "sdp": sdp}
            if not await self.redis.publish(self.inbox(owner), pack(request)):
                raise _Unreachable(owner, listening=False)
            try:
                reply = await asyncio.wait_for(future, self.offer_timeout)
            except TimeoutError as exc:
                raise _Unreachable(owner, listening=True) from exc
        finally:
            self._pending.pop(request_id, None)
        if reply.get("ok"):
            return str(reply["sdp"])
        if reply.get("code") == "not_owner":
            raise _NotOwner(owner)
        raise ProtocolError(ErrorCode(reply["code"]), str(reply.get("message", "")))

    async def _serve_request(self, request: dict[str, Any]) -> None:
        reply: dict[str, Any] = {"k": "a", "id": request["id"]}
        room_id = str(request["room"])
        try:
            if await self.owner_of(room_id) != self.node_id:
                reply.update(ok=False, code="not_owner")
            else:
                if room_id not in self._owned:
                    await self._claimed(room_id, previous=self.node_id)
                sdp = await self._answer(room_id, str(request["user"]), str(request["sdp"]))
                reply.update(ok=True, sdp=sdp)
        except ProtocolError as exc:
            reply.update(ok=False, code=exc.code.value, message=exc.message)
        except Exception:
            log.exception("forwarded offer for room %s failed", room_id)
            reply.update(ok=False, code=ErrorCode.INTERNAL.value, message="media failed")
        await self.redis.publish(self.inbox(str(request["from"])), pack(reply))

    # -- loops --------------------------------------------------------------------------------

    async def _inbox_loop(self) -> None:
        await subscribe_forever(
            self.redis, self.inbox(self.node_id), self._on_inbox,
            running=lambda: self._running, subscribed=self._subscribed, poll=self.heartbeat)

    def _on_inbox(self, data: bytes) -> None:
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
            self._spawn(self._serve_request(message))

    def _spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _beat(self) -> bool:
        """Renew the heartbeat; True when the registry had lost this node (taken for dead)."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.set(self.heartbeat_key(self.node_id), str(time.time()), px=self.node_ttl_ms)
        pipe.hset(self._nodes_key, self.node_id, pack({"since": time.time(), **self.info}))
        _, added = await pipe.execute()
        return bool(added)

    async def _heartbeat_loop(self) -> None:
        while self._running:
            await asyncio.sleep(self.heartbeat)
            try:
                if await self._beat():
                    await self._back_from_the_dead()
                await self._check_nodes()
            except (RedisError, OSError) as exc:
                log.warning("cluster heartbeat failed: %s", exc)
                self._judge_after = time.monotonic() + 2 * self.node_ttl_ms / 1000

    async def _back_from_the_dead(self) -> None:
        """Another node took this one for dead: restore presence, let members rejoin.

        The leases are gone already (`_renew_leases` drops the media); the members were marked
        away, and a join from their still-open connection brings them back.
        """
        log.warning("this node was taken for dead (stalled?); restoring its members")
        entries = sorted(self._presence)
        if not entries:
            return
        await self.redis.sadd(self.presence_key(self.node_id), *entries)
        if self.on_presence_back is None:
            return
        for entry in entries:
            room_id, _, user = entry.partition("\t")
            try:
                await self.on_presence_back(room_id, user)
            except ProtocolError:
                pass  # the room closed or the member was removed meanwhile
            except Exception:
                log.exception("rejoin of %s in %s failed", user, room_id)

    async def _check_nodes(self) -> None:
        if time.monotonic() < self._judge_after:
            return
        others = [as_text(n) for n in await self.redis.hkeys(self._nodes_key)]
        others = [n for n in others if n != self.node_id]
        if not others:
            return
        pipe = self.redis.pipeline(transaction=False)
        for node_id in others:
            pipe.exists(self.heartbeat_key(node_id))
        alive = await pipe.execute()
        for node_id, is_alive in zip(others, alive, strict=True):
            # HDEL returns 1 to exactly one node: that node cleans up after the dead one.
            if not is_alive and await self.redis.hdel(self._nodes_key, node_id):
                log.warning("node %s is gone; taking over its rooms", node_id)
                await self._recover(node_id)

    async def _recover(self, dead: str) -> None:
        """Clear a dead node's leases (announcing them) and report its members disconnected."""
        owned = [as_text(r) for r in await self.redis.smembers(self.owned_key(dead))]
        for room_id in owned:
            await self._cas(keys=[self.store.keys.owner(room_id)], args=[dead, "", 0])
            if dead == self.node_id:
                self._owned.discard(room_id)
            await self._announce_takeover(room_id)
        await self.redis.delete(self.owned_key(dead))
        entries = [as_text(e) for e in await self.redis.smembers(self.presence_key(dead))]
        await self.redis.delete(self.presence_key(dead))
        if not entries or self.on_presence_lost is None:
            return
        live = [
            as_text(n) for n in await self.redis.hkeys(self._nodes_key) if as_text(n) != dead
        ]
        for entry in entries:
            room_id, _, user = entry.partition("\t")
            # The user may already be back through another node: then nothing was lost.
            if await self._present_elsewhere(live, entry):
                continue
            try:
                await self.on_presence_lost(room_id, user)
            except ProtocolError:
                pass  # the room or the member is gone already
            except Exception:
                log.exception("disconnect of %s in %s after node loss failed", user, room_id)

    async def _present_elsewhere(self, nodes: list[str], entry: str) -> bool:
        if not nodes:
            return False
        pipe = self.redis.pipeline(transaction=False)
        for node_id in nodes:
            pipe.sismember(self.presence_key(node_id), entry)
        return any(await pipe.execute())

    async def share_levels(self, room_id: str, levels: dict[str, float]) -> None:
        """The room's speaking levels, measured by its mixer on this node (the media owner),
        to the members connected through the other nodes."""
        await self.store.broadcast(room_id, [Event("speaking", {"levels": levels})])

    async def _lease_loop(self) -> None:
        interval = self.lease_ms / 3000
        while self._running:
            await asyncio.sleep(interval)
            try:
                await self._renew_leases()
            except (RedisError, OSError) as exc:
                log.warning("lease renewal failed: %s", exc)

    async def _renew_leases(self) -> None:
        rooms = sorted(self._owned)
        if not rooms:
            return
        pipe = self.redis.pipeline(transaction=False)
        for room_id in rooms:
            await self._renew(
                keys=[self.store.keys.owner(room_id), self.store.keys.room(room_id)],
                args=[self.node_id, self.lease_ms],
                client=pipe,
            )
        results = await pipe.execute()
        for room_id, renewed in zip(rooms, results, strict=True):
            if not renewed:
                await self._lost(room_id)

    async def _lost(self, room_id: str) -> None:
        self._owned.discard(room_id)
        await self.redis.srem(self.owned_key(self.node_id), room_id)
        if self.engine is not None:
            result = self.engine.close_room(room_id)
            if inspect.isawaitable(result):
                await result
