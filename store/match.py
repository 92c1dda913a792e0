"""Where the match queue lives (random matching, 連線): the `MatchStore` protocol, its values,
and `MemoryMatch` (one node); `RedisMatch` (store/match_redis.py) shares one queue between
every node. Both pass tests/store/test_match_contract.py.

- `join(entry)` puts or replaces the user's queue entry; `entry(user)`; `leave(user)` -> was
  waiting; `leave_if_absent(user)`: the same, in one step with the check that the user has no
  connection anywhere (their last one closed); `drop(entries)` removes entries that are still
  the ones given (same `stamp`).
- `version()` grows with every change of the queue; `waiting()` -> every entry;
  `snapshot(known)` -> `(version, entries)` in one step, entries None when the version is still
  `known` (the pairing loop reads the queue only when it changed).
- `history(users, since)` -> per user, whom they were paired with since then, and when
  (`met(x, y, since)` for one pair); kept `HISTORY` seconds: the rematch window reads the last
  10 minutes of it, a report the last 7 days.
- `blocking(users)` -> per user, whom they block; `busy(users)` -> those ringing out or in an
  active call (the call store's slots); `facts(users, fresh, since)` -> all three in one step
  (busy among `users`, history since `since` and blocks of the `fresh` ones).
- `commit_pair(a, b, call, events, now)` makes a pair in one atomic step: both entries still the
  ones given, both online (a connection somewhere), neither ringing out nor in a call, neither
  blocking the other, not paired within the rematch window; then both leave the queue, the
  call is created `active` with both users' `in_call` slots (the call store's own records:
  `hangup` and `list_calls` see it as any call), the pair goes into both histories, and (Redis)
  the events are published. Returns None, or the `Refused` reason; an offline or busy user's
  entry is dropped in the same step (they cannot be paired any more).
- `sweep_absent()` drops every entry whose user has no connection anywhere (a dead node's).
- `lead(node, ttl)` -> whether `node` leads the pairing now (taking or renewing the lead);
  `resign(node)`; `release(dead)` ends a dead node's lead. One node pairs at a time; that is a
  saving, not a safety: `commit_pair` alone keeps anyone from being paired twice.
- `add_report(report)`, `reports(limit)` (newest first): reports kept for moderators.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable

from calls.machine import CallEvent
from calls.matching import REMATCH_WINDOW, Waiting
from calls.model import CallState, CallStatus
from store.calls import CallStore
from store.people import PeopleStore
from store.presence import Presence
from store.wire import pack, unpack

HISTORY = 7 * 24 * 3600.0
"""Seconds a pairing is remembered: who may report whom (and the rematch window, far shorter)."""

STAMP_LENGTH = 16


def new_stamp() -> str:
    """A queue entry's identity: 64 random bits as 16 hex digits (fixed length, so that the
    Redis scripts compare an entry's stamp as its prefix)."""
    return secrets.token_hex(STAMP_LENGTH // 2)


@dataclass(frozen=True, slots=True)
class Entry:
    """A waiting user: the pairing core's `Waiting`, and what their side of the call needs
    (display name, the connection that joined, its app and node)."""

    user: str
    name: str
    city: str | None
    tags: tuple[str, ...]
    same_city: bool
    joined_at: float
    conn: str
    app: str | None
    node: str
    stamp: str = field(default_factory=new_stamp)

    def waiting(self) -> Waiting:
        return Waiting(self.user, self.city, self.tags, self.same_city, self.joined_at)

    def card(self) -> dict[str, Any]:
        """`{user, name, city, tags}`: what the peer's `match_found` shows of this user."""
        return {"user": self.user, "name": self.name, "city": self.city,
                "tags": list(self.tags)}

    def to_bytes(self) -> bytes:
        """The stamp, then msgpack of the rest (a script checks the stamp as a prefix)."""
        return self.stamp.encode() + pack({
            "n": self.name, "c": self.city, "t": list(self.tags), "s": self.same_city,
            "a": self.joined_at, "k": self.conn, "p": self.app, "o": self.node})

    @classmethod
    def from_bytes(cls, user: str, data: bytes | str) -> Entry:
        if isinstance(data, str):
            data = data.encode()
        body = unpack(data[STAMP_LENGTH:])
        return cls(user=user, name=str(body["n"]), city=body["c"],
                   tags=tuple(str(t) for t in body["t"]), same_city=bool(body["s"]),
                   joined_at=float(body["a"]), conn=str(body["k"]), app=body["p"],
                   node=str(body["o"]), stamp=data[:STAMP_LENGTH].decode())


class Refusal(StrEnum):
    """Why `commit_pair` made no pair (`user`: the one it is about)."""

    GONE = "gone"  # left, or joined again with other preferences
    OFFLINE = "offline"  # no connection anywhere: the entry is dropped
    BUSY = "busy"  # ringing out or in a call: the entry is dropped
    BLOCKED = "blocked"  # `user` blocks the other
    RECENT = "recent"  # paired with each other within the rematch window


@dataclass(frozen=True, slots=True)
class Refused:
    reason: Refusal
    user: str


@dataclass(frozen=True, slots=True)
class Facts:
    """What a pairing round needs beyond the queue (`MatchStore.facts`)."""

    busy: set[str]
    recent: dict[str, dict[str, float]]
    blocks: dict[str, set[str]]


@dataclass(frozen=True, slots=True)
class Report:
    """`report {user, reason}` as kept: who reported whom, why, when, and where they met
    (`room:ID`, `call:ID`, or `match`)."""

    reporter: str
    user: str
    reason: str
    at: float
    where: str
    node: str = ""

    def to_fields(self) -> dict[str, str]:
        return {"reporter": self.reporter, "user": self.user, "reason": self.reason,
                "at": repr(self.at), "where": self.where, "node": self.node}

    @classmethod
    def from_fields(cls, data: Mapping[str, str]) -> Report:
        return cls(reporter=data["reporter"], user=data["user"], reason=data["reason"],
                   at=float(data["at"]), where=data["where"], node=data.get("node", ""))


@runtime_checkable
class MatchStore(Protocol):
    async def join(self, entry: Entry) -> None: ...

    async def entry(self, user: str) -> Entry | None: ...

    async def leave(self, user: str) -> bool: ...

    async def leave_if_absent(self, user: str) -> bool: ...

    async def drop(self, entries: Sequence[Entry]) -> list[str]: ...

    async def version(self) -> int: ...

    async def waiting(self) -> list[Entry]: ...

    async def snapshot(self, known: int) -> tuple[int, list[Entry] | None]: ...

    async def facts(self, users: Sequence[str], fresh: Sequence[str], since: float) -> Facts:
        ...

    async def history(self, users: Sequence[str], since: float) -> dict[str, dict[str, float]]:
        ...

    async def met(self, x: str, y: str, since: float) -> bool: ...

    async def blocking(self, users: Sequence[str]) -> dict[str, set[str]]: ...

    async def busy(self, users: Sequence[str]) -> set[str]: ...

    async def commit_pair(self, a: Entry, b: Entry, call: CallState,
                          events: Sequence[CallEvent], now: float) -> Refused | None: ...

    async def sweep_absent(self) -> list[str]: ...

    async def lead(self, node: str, ttl: float) -> bool: ...

    async def resign(self, node: str) -> None: ...

    async def release(self, dead: str) -> None: ...

    async def add_report(self, report: Report) -> None: ...

    async def reports(self, limit: int) -> list[Report]: ...


class MemoryMatch:
    """The one-node queue, beside the one-node call, people and presence stores it checks.
    Those never suspend inside a method (dicts only), so `commit_pair`'s checks and writes
    run with no other task in between: atomic on the event loop."""

    def __init__(self, calls: CallStore, people: PeopleStore, presence: Presence) -> None:
        self.calls = calls
        self.people = people
        self.presence = presence
        self._queue: dict[str, Entry] = {}
        self._version = 0
        self._history: dict[str, dict[str, float]] = {}
        self._reports: list[Report] = []

    async def join(self, entry: Entry) -> None:
        self._queue[entry.user] = entry
        self._version += 1

    async def entry(self, user: str) -> Entry | None:
        return self._queue.get(user)

    async def leave(self, user: str) -> bool:
        if self._queue.pop(user, None) is None:
            return False
        self._version += 1
        return True

    async def leave_if_absent(self, user: str) -> bool:
        if await self.presence.apps(user):
            return False
        return await self.leave(user)

    async def drop(self, entries: Sequence[Entry]) -> list[str]:
        dropped = []
        for entry in entries:
            current = self._queue.get(entry.user)
            if current is not None and current.stamp == entry.stamp:
                del self._queue[entry.user]
                dropped.append(entry.user)
        if dropped:
            self._version += 1
        return dropped

    async def version(self) -> int:
        return self._version

    async def waiting(self) -> list[Entry]:
        return list(self._queue.values())

    async def snapshot(self, known: int) -> tuple[int, list[Entry] | None]:
        if known == self._version:
            return self._version, None
        return self._version, list(self._queue.values())

    async def facts(self, users: Sequence[str], fresh: Sequence[str], since: float) -> Facts:
        return Facts(await self.busy(users), await self.history(fresh, since),
                     await self.blocking(fresh))

    async def history(self, users: Sequence[str], since: float) -> dict[str, dict[str, float]]:
        return {user: {p: at for p, at in self._history.get(user, {}).items() if at >= since}
                for user in users}

    async def met(self, x: str, y: str, since: float) -> bool:
        return self._history.get(x, {}).get(y, -1.0) >= since

    async def blocking(self, users: Sequence[str]) -> dict[str, set[str]]:
        return {user: await self.people.blocking(user) for user in users}

    async def busy(self, users: Sequence[str]) -> set[str]:
        out = set()
        for user in users:
            for stored in await self.calls.calls_of(user):
                call = stored.call
                if call.state is CallStatus.ACTIVE or call.caller.user == user:
                    out.add(user)
        return out

    async def commit_pair(self, a: Entry, b: Entry, call: CallState,
                          events: Sequence[CallEvent], now: float) -> Refused | None:
        for entry in (a, b):
            current = self._queue.get(entry.user)
            if current is None or current.stamp != entry.stamp:
                return Refused(Refusal.GONE, entry.user)
        for entry in (a, b):
            if not await self.presence.apps(entry.user):
                await self.drop([entry])
                return Refused(Refusal.OFFLINE, entry.user)
            if await self.busy([entry.user]):
                await self.drop([entry])
                return Refused(Refusal.BUSY, entry.user)
        for x, y in ((a, b), (b, a)):
            if y.user in await self.people.blocking(x.user):
                return Refused(Refusal.BLOCKED, x.user)
        if self._history.get(a.user, {}).get(b.user, float("-inf")) > now - REMATCH_WINDOW:
            return Refused(Refusal.RECENT, a.user)
        await self.calls.commit(None, call, events)
        del self._queue[a.user], self._queue[b.user]
        self._version += 1
        for user, partner in ((a.user, b.user), (b.user, a.user)):
            seen = self._history.setdefault(user, {})
            seen[partner] = now
            for old in [p for p, at in seen.items() if at < now - HISTORY]:
                del seen[old]
        return None

    async def sweep_absent(self) -> list[str]:
        gone = [e for e in self._queue.values() if not await self.presence.apps(e.user)]
        return await self.drop(gone)

    async def lead(self, node: str, ttl: float) -> bool:
        return True  # one node: it always leads

    async def resign(self, node: str) -> None:
        pass

    async def release(self, dead: str) -> None:
        pass

    async def add_report(self, report: Report) -> None:
        self._reports.append(report)

    async def reports(self, limit: int) -> list[Report]:
        return list(reversed(self._reports[-limit:])) if limit > 0 else []
