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
from store import lua, reads
from store.base import Conflict
from store.match import HISTORY, Entry, Facts, Refusal, Refused, Report
from store.redis import RedisStore
from store.user_events import UserBatch, pack_batch
from store.wire import as_text, pack


class RedisMatch:
    """Every step is one script through the store's pipeline (store/resp.py): the steps a
    pairing round issues at once leave in one write, and no pool connection is held."""

    def __init__(self, store: RedisStore) -> None:
        self.store = store
        self.redis = store.redis
        self.keys = store.keys
        self.node_id = store.node_id
        self._queue_keys = [self.keys.match_queue, self.keys.match_version]

    async def join(self, entry: Entry) -> None:
        await self.store.script(lua.MATCH_JOIN, self._queue_keys,
                                [entry.user, entry.to_bytes()])

    async def entry(self, user: str) -> Entry | None:
        raw = await self.store.script(reads.HGET, [self.keys.match_queue], [user])
        return None if raw is None else Entry.from_bytes(user, raw)

    async def leave(self, user: str) -> bool:
        return bool(await self.store.script(lua.MATCH_LEAVE, self._queue_keys, [user]))

    async def leave_if_absent(self, user: str) -> bool:
        return bool(await self.store.script(
            lua.MATCH_LEAVE_IF_ABSENT, [*self._queue_keys, self.keys.conns(user)], [user]))

    async def drop(self, entries: Sequence[Entry]) -> list[str]:
        if not entries:
            return []
        args: list[Any] = []
        for entry in entries:
            args += [entry.user, entry.stamp]
        removed = await self.store.script(lua.MATCH_DROP, self._queue_keys, args)
        return [as_text(user) for user in removed]

    async def version(self) -> int:
        return int(await self.store.script(reads.GET, [self.keys.match_version], []) or 0)

    async def waiting(self) -> list[Entry]:
        flat = await self.store.script(reads.HGETALL, [self.keys.match_queue], [])
        return [Entry.from_bytes(as_text(flat[i]), flat[i + 1]) for i in range(0, len(flat), 2)]

    async def snapshot(self, known: int) -> tuple[int, list[Entry] | None]:
        reply = await self.store.script(lua.MATCH_SNAPSHOT, self._queue_keys, [known])
        version = int(reply[0])
        if len(reply) == 1:
            return version, None
        flat = reply[1]
        return version, [Entry.from_bytes(as_text(flat[i]), flat[i + 1])
                         for i in range(0, len(flat), 2)]

    async def facts(self, users: Sequence[str], fresh: Sequence[str], since: float) -> Facts:
        if not users:
            return Facts(set(), {}, {})
        keys = [self.keys.calling, self.keys.in_call,
                *(self.keys.matched(u) for u in fresh), *(self.keys.blocking(u) for u in fresh)]
        busy, recent, blocks = await self.store.script(
            lua.MATCH_FACTS, keys, [repr(since), len(fresh), *users])
        return Facts(
            {as_text(u) for u in busy},
            {user: {as_text(flat[i]): float(flat[i + 1]) for i in range(0, len(flat), 2)}
             for user, flat in zip(fresh, recent, strict=True)},
            {user: {as_text(b) for b in members}
             for user, members in zip(fresh, blocks, strict=True)})

    async def history(self, users: Sequence[str], since: float) -> dict[str, dict[str, float]]:
        if not users:
            return {}
        replies = await self.store.script(
            lua.MATCH_HISTORIES, [self.keys.matched(u) for u in users], [repr(since)])
        return {user: {as_text(flat[i]): float(flat[i + 1]) for i in range(0, len(flat), 2)}
                for user, flat in zip(users, replies, strict=True)}

    async def met(self, x: str, y: str, since: float) -> bool:
        at = await self.store.script(reads.ZSCORE, [self.keys.matched(x)], [y])
        return at is not None and float(at) >= since

    async def blocking(self, users: Sequence[str]) -> dict[str, set[str]]:
        if not users:
            return {}
        replies = await self.store.script(lua.MATCH_SETS,
                                          [self.keys.blocking(u) for u in users], [])
        return {user: {as_text(b) for b in reply}
                for user, reply in zip(users, replies, strict=True)}

    async def busy(self, users: Sequence[str]) -> set[str]:
        if not users:
            return set()
        busy = await self.store.script(lua.MATCH_BUSY, [self.keys.calling, self.keys.in_call],
                                       list(users))
        return {as_text(user) for user in busy}

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
        online = await self.store.script(lua.MATCH_EXIST,
                                         [self.keys.conns(e.user) for e in entries], [])
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
