"""The node registry: who is in the cluster, who is alive, and which members are connected
through which node (so that a survivor can report them disconnected when a node dies).

Every node keeps a heartbeat key alive and an entry in the registry hash; the first node to
see another's heartbeat gone wins the HDEL of its entry and cleans up after it.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from redis.exceptions import RedisError

from store.redis import RedisStore
from store.wire import as_text, pack, unpack

log = logging.getLogger(__name__)


def presence_entry(room_id: str, user: str) -> str:
    return f"{room_id}\t{user}"


def parse_presence(entry: str) -> tuple[str, str]:
    room_id, _, user = entry.partition("\t")
    return room_id, user


class NodeRegistry:
    """This node's heartbeat and presence records, and what it reads of the other nodes'."""

    def __init__(self, store: RedisStore, *, node_ttl: float,
                 info: dict[str, Any] | None = None) -> None:
        self.redis = store.redis
        self.keys = store.keys
        self.node_id = store.node_id
        self.node_ttl_ms = int(node_ttl * 1000)
        self.info = dict(info or {})
        # This node's presence entries, mirrored: restored if another node wiped them.
        self.presence: set[str] = set()

    async def beat(self) -> bool:
        """Renew the heartbeat; True when the registry had lost this node (taken for dead)."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.set(self.keys.heartbeat(self.node_id), str(time.time()), px=self.node_ttl_ms)
        pipe.hset(self.keys.nodes, self.node_id, pack({"since": time.time(), **self.info}))
        _, added = await pipe.execute()
        return bool(added)

    async def leave(self) -> None:
        pipe = self.redis.pipeline(transaction=False)
        pipe.delete(self.keys.heartbeat(self.node_id))
        pipe.hdel(self.keys.nodes, self.node_id)
        await pipe.execute()

    async def http_address(self, node_id: str) -> tuple[str, int] | None:
        """The (host, port) a node registered under ``http`` in its info, if any."""
        raw = await self.redis.hget(self.keys.nodes, node_id)
        if raw is None:
            return None
        info = unpack(raw)
        address = info.get("http") if isinstance(info, dict) else None
        if not isinstance(address, list | tuple) or len(address) != 2:
            return None
        host, port = address
        if not isinstance(host, str) or not isinstance(port, int):
            return None
        return host, port

    async def alive(self, node_id: str) -> bool:
        return bool(await self.redis.exists(self.keys.heartbeat(node_id)))

    async def registered(self, but: str) -> list[str]:
        """The nodes in the registry (this one included), `but` left out."""
        return [n for n in (as_text(raw) for raw in await self.redis.hkeys(self.keys.nodes))
                if n != but]

    async def newly_dead(self) -> list[str]:
        """The nodes whose heartbeat lapsed and whose cleanup falls to this node."""
        others = await self.registered(but=self.node_id)
        if not others:
            return []
        pipe = self.redis.pipeline(transaction=False)
        for node_id in others:
            pipe.exists(self.keys.heartbeat(node_id))
        alive = await pipe.execute()
        dead = []
        for node_id, is_alive in zip(others, alive, strict=True):
            # HDEL returns 1 to exactly one node: that node cleans up after the dead one.
            if not is_alive and await self.redis.hdel(self.keys.nodes, node_id):
                dead.append(node_id)
        return dead

    # -- presence -----------------------------------------------------------------------------

    async def joined(self, room_id: str, user: str) -> None:
        entry = presence_entry(room_id, user)
        self.presence.add(entry)
        try:
            await self.redis.sadd(self.keys.presence(self.node_id), entry)
        except (RedisError, OSError) as exc:
            # Presence only matters if this node dies; a request must not fail over it.
            log.warning("presence of %s in %s not recorded: %s", user, room_id, exc)

    async def left(self, room_id: str, user: str) -> None:
        entry = presence_entry(room_id, user)
        self.presence.discard(entry)
        try:
            await self.redis.srem(self.keys.presence(self.node_id), entry)
        except (RedisError, OSError) as exc:
            log.warning("presence of %s in %s not cleared: %s", user, room_id, exc)

    async def restore_presence(self) -> list[str]:
        """Write this node's presence entries again (another node wiped them); returns them."""
        entries = sorted(self.presence)
        if entries:
            await self.redis.sadd(self.keys.presence(self.node_id), *entries)
        return entries

    async def take_presence(self, node_id: str) -> list[str]:
        """A dead node's presence entries, removed from Redis."""
        key = self.keys.presence(node_id)
        entries = [as_text(e) for e in await self.redis.smembers(key)]
        await self.redis.delete(key)
        return entries

    async def present_elsewhere(self, nodes: list[str], entry: str) -> bool:
        if not nodes:
            return False
        pipe = self.redis.pipeline(transaction=False)
        for node_id in nodes:
            pipe.sismember(self.keys.presence(node_id), entry)
        return any(await pipe.execute())
