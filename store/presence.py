"""Who is online, by app: every open connection that said `hello`, on any node.

`online` in `get_profile` / `list_follows`, `user_offline` for a call, and "a party's last
connection dropped" all read it. `MemoryPresence` serves one node; `RedisPresence` keeps a
hash per user (conn id -> app) and, per node, the list of its entries, so that a survivor
can remove a dead node's connections (`take_node`), and a node taken for dead by mistake can
write its own back (`restore`).

- `connected(user, conn, app)`; `disconnected(user, conn) -> bool` (True: the user still has
  a connection somewhere). Write first, then read: a connection arriving on one node while
  another closes on another is seen by at least one of the two.
- `apps(user)` / `apps_of(users)`: the apps the user has connections in (empty: offline).
- `nodes_of(users)`: on how many nodes each user has connections (0: offline); the server
  splits a user's request budget over them. A connection id starts with its node's id and a
  slash (server/connection.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Protocol, runtime_checkable

from store import people_lua, reads
from store.keys import Keys
from store.redis import RedisStore
from store.wire import as_text


@runtime_checkable
class Presence(Protocol):
    async def connected(self, user: str, conn: str, app: str) -> None: ...

    async def disconnected(self, user: str, conn: str) -> bool: ...

    async def apps(self, user: str) -> frozenset[str]: ...

    async def apps_of(self, users: Sequence[str]) -> dict[str, frozenset[str]]: ...

    async def nodes_of(self, users: Sequence[str]) -> dict[str, int]: ...


def _node_count(conns: Iterable[str]) -> int:
    return len({conn.partition("/")[0] for conn in conns})


class MemoryPresence:
    def __init__(self) -> None:
        self._conns: dict[str, dict[str, str]] = {}

    async def connected(self, user: str, conn: str, app: str) -> None:
        self._conns.setdefault(user, {})[conn] = app

    async def disconnected(self, user: str, conn: str) -> bool:
        conns = self._conns.get(user)
        if conns is None:
            return False
        conns.pop(conn, None)
        if not conns:
            del self._conns[user]
            return False
        return True

    async def apps(self, user: str) -> frozenset[str]:
        return frozenset(self._conns.get(user, {}).values())

    async def apps_of(self, users: Sequence[str]) -> dict[str, frozenset[str]]:
        return {user: frozenset(self._conns.get(user, {}).values()) for user in users}

    async def nodes_of(self, users: Sequence[str]) -> dict[str, int]:
        return {user: _node_count(self._conns.get(user, {})) for user in users}


def _entry(user: str, conn: str) -> str:
    return f"{user}\t{conn}"


class RedisPresence:
    def __init__(self, store: RedisStore) -> None:
        self.store = store
        self.redis = store.redis
        self.keys: Keys = store.keys
        self.node_id = store.node_id
        # This node's entries, mirrored: written back if another node wiped them.
        self._mine: dict[tuple[str, str], str] = {}

    async def connected(self, user: str, conn: str, app: str) -> None:
        self._mine[(user, conn)] = app
        await self.store.script(people_lua.CONNECT,
                                [self.keys.conns(user), self.keys.node_conns(self.node_id)],
                                [conn, app, _entry(user, conn)])

    async def disconnected(self, user: str, conn: str) -> bool:
        self._mine.pop((user, conn), None)
        left = await self.store.script(
            people_lua.DISCONNECT, [self.keys.conns(user), self.keys.node_conns(self.node_id)],
            [conn, _entry(user, conn)])
        return bool(left)

    async def apps(self, user: str) -> frozenset[str]:
        apps = await self.store.script(reads.HVALS, [self.keys.conns(user)], [])
        return frozenset(as_text(a) for a in apps)

    async def apps_of(self, users: Sequence[str]) -> dict[str, frozenset[str]]:
        replies = await self._each_user(users, "hvals")
        return {user: frozenset(as_text(a) for a in apps) for user, apps in replies}

    async def nodes_of(self, users: Sequence[str]) -> dict[str, int]:
        replies = await self._each_user(users, "hkeys")
        return {user: _node_count(as_text(c) for c in conns) for user, conns in replies}

    async def _each_user(self, users: Sequence[str], command: str) -> list[tuple[str, Any]]:
        """`command` (a hash read) of each user's connections hash, in one pipeline."""
        if not users:
            return []
        pipe = self.redis.pipeline(transaction=False)
        for user in users:
            getattr(pipe, command)(self.keys.conns(user))
        return list(zip(users, await pipe.execute(), strict=True))

    async def take_node(self, node_id: str) -> list[str]:
        """Remove a dead node's connections; returns the users who had some there."""
        key = self.keys.node_conns(node_id)
        entries = [as_text(e) for e in await self.redis.smembers(key)]
        pipe = self.redis.pipeline(transaction=True)
        users: set[str] = set()
        for entry in entries:
            user, _, conn = entry.partition("\t")
            users.add(user)
            pipe.hdel(self.keys.conns(user), conn)
        pipe.delete(key)
        await pipe.execute()
        return sorted(users)

    async def restore(self) -> list[str]:
        """Write this node's entries again (another node took it for dead and wiped them);
        returns the users they belong to."""
        if not self._mine:
            return []
        pipe = self.redis.pipeline(transaction=True)
        for (user, conn), app in self._mine.items():
            pipe.hset(self.keys.conns(user), conn, app)
            pipe.sadd(self.keys.node_conns(self.node_id), _entry(user, conn))
        await pipe.execute()
        return sorted({user for user, _ in self._mine})
