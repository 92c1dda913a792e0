"""`RedisMatch`: the match queue shared by every node on one Redis (keys in store/keys.py,
scripts in store/lua.py; the contract in store/match.py).

A pairing is one Lua script (`MATCH_PAIR`): both entries still the ones the pairing loop read,
both online, neither in a call, no block, no recent pairing; then the queue, the call with its
slots (the call store's keys: RedisCalls reads it like any call), both histories and the PUBLISH
of the `match_found` events on the user-event channel, in one atomic step. A node killed at
any point leaves either both users in the queue or both in the call.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from calls.machine import CallEvent
from calls.matching import REMATCH_WINDOW
from calls.model import CallState
from store import lua
from store.base import Conflict
from store.match import HISTORY, Entry, Refusal, Refused, Report
from store.redis import RedisStore
from store.user_events import UserBatch, pack_batch
from store.wire import as_text, pack


class RedisMatch:
    def __init__(self, store: RedisStore) -> None:
        self.store = store
        self.redis = store.redis
        self.keys = store.keys
        self.node_id = store.node_id

    async def join(self, entry: Entry) -> None:
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(self.keys.match_queue, entry.user, entry.to_bytes())
        pipe.incr(self.keys.match_version)
        await pipe.execute()

    async def entry(self, user: str) -> Entry | None:
        raw = await self.redis.hget(self.keys.match_queue, user)
        return None if raw is None else Entry.from_bytes(user, raw)

    async def leave(self, user: str) -> bool:
        pipe = self.redis.pipeline(transaction=True)
        pipe.hdel(self.keys.match_queue, user)
        pipe.incr(self.keys.match_version)
        removed, _ = await pipe.execute()
        return bool(removed)

    async def drop(self, entries: Sequence[Entry]) -> list[str]:
        if not entries:
            return []
        args: list[Any] = []
        for entry in entries:
            args += [entry.user, entry.stamp]
        removed = await self.store.script(
            lua.MATCH_DROP, [self.keys.match_queue, self.keys.match_version], args)
        return [as_text(user) for user in removed]

    async def version(self) -> int:
        return int(await self.redis.get(self.keys.match_version) or 0)

    async def waiting(self) -> list[Entry]:
        raw = await self.redis.hgetall(self.keys.match_queue)
        return [Entry.from_bytes(as_text(user), blob) for user, blob in raw.items()]

    async def history(self, users: Sequence[str], since: float) -> dict[str, dict[str, float]]:
        if not users:
            return {}
        pipe = self.redis.pipeline(transaction=False)
        for user in users:
            pipe.zrangebyscore(self.keys.matched(user), repr(since), "+inf", withscores=True)
        replies = await pipe.execute()
        return {user: {as_text(partner): float(at) for partner, at in reply}
                for user, reply in zip(users, replies, strict=True)}

    async def met(self, x: str, y: str, since: float) -> bool:
        at = await self.redis.zscore(self.keys.matched(x), y)
        return at is not None and float(at) >= since

    async def blocking(self, users: Sequence[str]) -> dict[str, set[str]]:
        if not users:
            return {}
        pipe = self.redis.pipeline(transaction=False)
        for user in users:
            pipe.smembers(self.keys.blocking(user))
        replies = await pipe.execute()
        return {user: {as_text(b) for b in reply}
                for user, reply in zip(users, replies, strict=True)}

    async def busy(self, users: Sequence[str]) -> set[str]:
        if not users:
            return set()
        pipe = self.redis.pipeline(transaction=False)
        pipe.hmget(self.keys.calling, list(users))
        pipe.hmget(self.keys.in_call, list(users))
        calling, in_call = await pipe.execute()
        return {user for user, out, active in zip(users, calling, in_call, strict=True)
                if out is not None or active is not None}

    async def commit_pair(self, a: Entry, b: Entry, call: CallState,
                          events: Sequence[CallEvent], now: float) -> Refused | None:
        k = self.keys
        message = pack_batch(UserBatch.of_call(call, 1, events, self.node_id), self.node_id)
        keys = [k.match_queue, k.match_version, k.call(call.id), k.calling, k.in_call,
                k.user_calls(a.user), k.user_calls(b.user), k.conns(a.user), k.conns(b.user),
                k.blocking(a.user), k.blocking(b.user), k.matched(a.user), k.matched(b.user)]
        args: list[Any] = [a.user, b.user, a.stamp, b.stamp, call.id, pack(call.to_dict()),
                           repr(now), repr(now - REMATCH_WINDOW), repr(now - HISTORY),
                           int(HISTORY * 1000), k.user_events, message]
        result = await self.store.script(lua.MATCH_PAIR, keys, args)
        status = as_text(result[0])
        if status == "ok":
            return None
        if status == "conflict":
            raise Conflict(f"call {call.id} exists")
        return Refused(Refusal(status), as_text(result[1]))

    async def sweep_absent(self) -> list[str]:
        entries = await self.waiting()
        if not entries:
            return []
        pipe = self.redis.pipeline(transaction=False)
        for entry in entries:
            pipe.exists(self.keys.conns(entry.user))
        online = await pipe.execute()
        return await self.drop([e for e, here in zip(entries, online, strict=True) if not here])

    async def lead(self, node: str, ttl: float) -> bool:
        return bool(await self.store.script(lua.MATCH_LEAD, [self.keys.match_lead],
                                            [node, int(ttl * 1000)]))

    async def resign(self, node: str) -> None:
        await self.store.script(lua.LEASE_SWAP, [self.keys.match_lead], [node, "", 0])

    async def release(self, dead: str) -> None:
        await self.resign(dead)

    async def add_report(self, report: Report) -> None:
        await self.redis.xadd(self.keys.reports, report.to_fields())  # type: ignore[arg-type]

    async def reports(self, limit: int) -> list[Report]:
        if limit <= 0:
            return []
        rows: Any = await self.redis.xrevrange(self.keys.reports, count=limit)
        return [Report.from_fields({as_text(k): as_text(v) for k, v in fields.items()})
                for _, fields in rows]
