"""Leases: one node holds a key (the media owner of a room, later of a call) while it renews
it; a lease not renewed expires, and a node that knows the holder is dead may take it over.

Generic over the key: the caller names the lease key and, for renewal, the key whose existence
the lease needs (a room's lease ends with the room).
"""

from __future__ import annotations

import asyncio

from store import lua
from store.redis import RedisStore
from store.wire import as_text


class Leases:
    """This node's side of the leases in one store's Redis."""

    def __init__(self, store: RedisStore, *, lease: float) -> None:
        self.store = store
        self.node_id = store.node_id
        self.lease_ms = int(lease * 1000)

    async def holder(self, key: str) -> str | None:
        raw = await self.store.redis.get(key)
        return None if raw is None else as_text(raw)

    async def claim(self, key: str) -> bool:
        """Take the lease if nobody holds it."""
        return bool(await self.store.redis.set(key, self.node_id, nx=True, px=self.lease_ms))

    async def take_over(self, key: str, previous: str) -> bool:
        """Take the lease if `previous` still holds it (a node found dead)."""
        return bool(await self.store.script(
            lua.LEASE_SWAP, [key], [previous, self.node_id, self.lease_ms]))

    async def clear(self, key: str, previous: str) -> bool:
        """End the lease if `previous` still holds it."""
        return bool(await self.store.script(lua.LEASE_SWAP, [key], [previous, "", 0]))

    async def renew(self, held: list[tuple[str, str]]) -> list[bool]:
        """Renew each (lease key, the key it needs); False where the lease is lost or the
        needed key is gone (the lease is then deleted). Sent together: one write."""
        replies = await asyncio.gather(*(
            self.store.script(lua.LEASE_RENEW, [key, needs], [self.node_id, self.lease_ms])
            for key, needs in held))
        return [bool(reply) for reply in replies]
