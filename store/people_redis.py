"""`RedisPeople`: the people store for several nodes sharing one Redis (keys in store/keys.py).

A profile is a hash of msgpack fields, so that writes of different fields (a `hello` on one
node, a `set_profile` on another) never undo each other. A pair's relations are one versioned
hash; a change is read, computed by `social/`'s pure rules, and written back by one Lua
script (store/people_lua.py `CHANGE_PAIR`) that checks the version and updates the per-user
indexes in the same atomic step; a pair changed meanwhile is read again and the rule applied
afresh.

The follow indexes are sorted sets in id order (store/people_lua.py says why, and how sets
written by older versions are converted when first touched); a `follow_page` reads its
candidates a chunk at a time (`FOLLOW_CHUNK`: one atomic script per chunk, one round trip,
each chunk's membership checks done inside Redis), and `store.people.walk_page` keeps or
drops them by `social.graph.listed`. The blocking set stays a plain set: it is bounded by the
user's own blocks, and the match store's scripts read it as one.
"""

from __future__ import annotations

import asyncio
from bisect import bisect_right
from collections.abc import Mapping, Sequence
from typing import Any

from protocol.errors import ErrorCode, ProtocolError
from protocol.schema import Which
from social.graph import Relations
from social.profile import Profile
from store import people_lua, reads
from store.keys import Keys
from store.people import (
    Candidate,
    Change,
    T,
    check_fields,
    index_ops,
    new_profile,
    relations_from_data,
    relations_to_data,
    walk_page,
)
from store.redis import RedisStore
from store.wire import as_text, pack, unpack

# A pair changed this many times under one request is too busy: the client may retry.
MAX_ATTEMPTS = 50


class RedisPeople:
    def __init__(self, store: RedisStore) -> None:
        self.store = store
        self.redis = store.redis
        self.keys: Keys = store.keys
        self._locks: dict[tuple[str, ...], _PairLock] = {}

    async def profile(self, user: str) -> Profile | None:
        flat = await self.store.script(reads.HGETALL, [self.keys.profile(user)], [])
        return _profile(user, dict(zip(flat[::2], flat[1::2], strict=True)))

    async def profiles(self, users: Sequence[str]) -> dict[str, Profile]:
        if not users:
            return {}
        pipe = self.redis.pipeline(transaction=False)
        for user in users:
            pipe.hgetall(self.keys.profile(user))
        out: dict[str, Profile] = {}
        for user, raw in zip(users, await pipe.execute(), strict=True):
            profile = _profile(user, raw)
            if profile is not None:
                out[user] = profile
        return out

    async def update_profile(self, user: str, fields: Mapping[str, Any]) -> Profile:
        check_fields(fields)
        values = {"user": user, **fields}
        if "tags" in values:
            values["tags"] = list(values["tags"])
        # Never a profile without a name: without one, only an existing profile is written.
        args: list[Any] = ["0" if "name" in fields else "1"]
        for name, value in values.items():
            args += [name, pack(value)]
        flat = await self.store.script(people_lua.UPDATE_PROFILE, [self.keys.profile(user)],
                                       args)
        if not flat:
            new_profile(user, fields)  # raises: a new profile needs a name
        profile = _profile(user, dict(zip(flat[::2], flat[1::2], strict=True)))
        assert profile is not None
        return profile

    async def relations(self, x: str, y: str) -> Relations:
        return (await self._read_pair(x, y))[1]

    async def _read_pair(self, x: str, y: str) -> tuple[int, Relations]:
        a, b = sorted((x, y))
        version, blob = await self.store.script(reads.VERSIONED, [self.keys.pair(a, b)], [])
        data = unpack(blob) if blob else None
        return int(version or 0), relations_from_data(x, y, data)

    async def change_relations(self, x: str, y: str, change: Change[T]) -> tuple[Relations, T]:
        # One change of a pair at a time on this node: only other nodes' changes can make the
        # version check fail (as rooms are run one command at a time per node).
        key = tuple(sorted((x, y)))
        lock = self._locks.get(key)
        if lock is None:
            lock = self._locks[key] = _PairLock()
        lock.users += 1
        try:
            async with lock.lock:
                return await self._change(x, y, change)
        finally:
            lock.users -= 1
            if lock.users == 0:
                del self._locks[key]

    async def _change(self, x: str, y: str, change: Change[T]) -> tuple[Relations, T]:
        for _ in range(MAX_ATTEMPTS):
            version, before = await self._read_pair(x, y)
            after, result = change(before)
            if after == before:
                return after, result
            keys = [self.keys.pair(before.a, before.b)]
            args: list[Any] = [version, pack(relations_to_data(after))]
            for add, kind, user, app, member in index_ops(before, after):
                keys.append(self._index_key(kind, user, app))
                op = "+" if add else "-"
                args += [op if kind == "blocking" else "z" + op, member]
            if await self.store.script(people_lua.CHANGE_PAIR, keys, args):
                return after, result
        raise ProtocolError(ErrorCode.INTERNAL, "these two users' relations are too busy; "
                            "try again")

    def _index_key(self, kind: str, user: str, app: str | None) -> str:
        if kind == "blocking":
            return self.keys.blocking(user)
        assert app is not None
        if kind == "following":
            return self.keys.following(user, app)
        return self.keys.followers(user, app)

    async def follow_page(self, user: str, app: str, which: Which, after: str | None,
                          limit: int) -> tuple[list[tuple[str, bool]], bool]:
        if which is Which.BLOCKED:
            # Bounded by the user's own blocks: read whole, cut here.
            blocked = sorted(await self.blocking(user))
            start = 0 if after is None else bisect_right(blocked, after)
            return ([(u, False) for u in blocked[start:start + limit]],
                     start + limit < len(blocked))
        keys = [self.keys.following(user, app), self.keys.followers(user, app),
                self.keys.blocking(user)]
        side = {Which.FOLLOWING: "following", Which.FOLLOWERS: "followers"}.get(
            which, "smaller")

        async def read(start: str | None, count: int) -> tuple[list[Candidate], bool]:
            reply = await self.store.script(people_lua.FOLLOW_CHUNK, keys,
                                            [side, start or "", count])
            walked_following = as_text(reply[0]) == "following"
            out: list[Candidate] = []
            for i in range(2, len(reply), 3):
                other, blocks = bool(int(reply[i + 1])), bool(int(reply[i + 2]))
                follows, followed_by = (True, other) if walked_following else (other, True)
                out.append((as_text(reply[i]), follows, followed_by, blocks))
            return out, as_text(reply[1]) == "1"

        return await walk_page(which, read, after, limit)

    async def follows(self, user: str, app: str) -> tuple[set[str], set[str]]:
        following, followers = await self.store.script(
            people_lua.WHOLE_FOLLOWS,
            [self.keys.following(user, app), self.keys.followers(user, app)], [])
        return {as_text(u) for u in following}, {as_text(u) for u in followers}

    async def blocking(self, user: str) -> set[str]:
        return {as_text(u) for u in await self.redis.smembers(self.keys.blocking(user))}


class _PairLock:
    __slots__ = ("lock", "users")

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.users = 0


def _profile(user: str, raw: Mapping[Any, Any] | None) -> Profile | None:
    if not raw:
        return None
    fields = {as_text(k): unpack(v) for k, v in raw.items()}
    if "name" not in fields:
        return None
    fields["user"] = user
    return Profile.from_wire(fields)
