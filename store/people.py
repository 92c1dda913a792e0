"""Where people live: profiles and the relations between users (follows per app, blocks).

`PeopleStore` is the protocol `MemoryPeople` (here) and `RedisPeople` (store/people_redis.py)
implement; both pass tests/store/test_people_contract.py. The rules are `social/`'s: the
store keeps their values and makes each pair's change atomic.

- `profile(user)` / `profiles(users)`: the stored `Profile`s (unknown users left out).
- `update_profile(user, fields)`: write only the given fields (`name`, `city`, `tags`,
  `verified`, `bio`; a user not known yet needs `name`), return the profile after. Writes of
  different fields never undo each other (a `hello` on one node, a `set_profile` on another).
- `relations(x, y)`: everything between the two (`social.graph.Relations`).
- `change_relations(x, y, change)`: apply the pure `change(relations) -> (after, result)` to
  the stored pair atomically (no other change of the pair in between, on any node), keep the
  per-user indexes in step, return `(after, result)`.
- `follow_page(user, app, which, after, limit)`: one page of the user's `list_follows`:
  up to `limit` `(user, mutual)` in user id order after the id `after` (None: from the
  start), and whether more follow. `social.graph.listed` decides, per candidate, who shows
  and who is mutual. A page costs O(log n + limit) however long the list: the indexes are
  kept in id order (here sorted lists, on Redis sorted sets) and `walk_page` reads
  candidates from the cursor on in chunks, the first just big enough for the page. Only
  candidates the rule drops make it read on: in `followers` those the user blocks (bounded
  by the user's own blocks); in `friends` the walked side's users who are no friend, so the
  walk takes the smaller side (a star's friends page walks the few hundred they follow,
  not their million followers).
- `follows(user, app)`: the whole `(following, followers)` of the user in the app, hidden
  follows included: O(n), for tests and tools, never a request; `blocking(user)`: whom the
  user blocks (bounded by the user's own actions).
"""

from __future__ import annotations

from bisect import bisect_right, insort
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any, Protocol, TypeVar, runtime_checkable

from protocol.schema import Which
from social.graph import Relations, listed
from social.profile import Profile

T = TypeVar("T")
Change = Callable[[Relations], tuple[Relations, T]]

PROFILE_FIELDS = frozenset({"name", "city", "tags", "verified", "bio"})


@runtime_checkable
class PeopleStore(Protocol):
    async def profile(self, user: str) -> Profile | None: ...

    async def profiles(self, users: Sequence[str]) -> dict[str, Profile]: ...

    async def update_profile(self, user: str, fields: Mapping[str, Any]) -> Profile: ...

    async def relations(self, x: str, y: str) -> Relations: ...

    async def change_relations(self, x: str, y: str, change: Change[T]) -> tuple[Relations, T]:
        ...

    async def follow_page(self, user: str, app: str, which: Which, after: str | None,
                          limit: int) -> tuple[list[tuple[str, bool]], bool]: ...

    async def follows(self, user: str, app: str) -> tuple[set[str], set[str]]: ...

    async def blocking(self, user: str) -> set[str]: ...


def check_fields(fields: Mapping[str, Any]) -> None:
    unknown = set(fields) - PROFILE_FIELDS
    if unknown:
        raise ValueError(f"not profile fields: {sorted(unknown)}")


def new_profile(user: str, fields: Mapping[str, Any]) -> Profile:
    if "name" not in fields:
        raise ValueError(f"user {user!r} is not known yet: a new profile needs a name")
    return replace(Profile(user=user, name=str(fields["name"])), **_typed(fields))


def _typed(fields: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(fields)
    if "tags" in out:
        out["tags"] = tuple(out["tags"])
    return out


# A candidate of a follow list: (user, the viewer follows them, they follow the viewer, the
# viewer blocks them).
Candidate = tuple[str, bool, bool, bool]
# Reads up to `count` candidates after an id (None: the start), in id order, and says
# whether that reached the end of the walked side.
ReadChunk = Callable[[str | None, int], Awaitable[tuple[list[Candidate], bool]]]

# Chunks after the first grow to at most this many ids: few round trips when the rule drops
# many candidates, bounded memory and Redis time per step.
MAX_CHUNK = 512


async def walk_page(which: Which, read: ReadChunk, after: str | None,
                    limit: int) -> tuple[list[tuple[str, bool]], bool]:
    """One page of `which` (`follow_page`'s answer) from the candidates `read` gives.

    It reads `limit + 1` ids first (the page and one to know whether more follow), then, only
    if `listed` dropped some, as many again as are missing, doubling up to `MAX_CHUNK`.
    """
    entries: list[tuple[str, bool]] = []
    size = limit + 1
    while True:
        candidates, done = await read(after, size)
        for user, follows, followed_by, blocks in candidates:
            mutual = listed(which, follows=follows, followed_by=followed_by, blocks=blocks)
            if mutual is not None:
                entries.append((user, mutual))
                if len(entries) > limit:
                    return entries[:limit], True
        if done or not candidates:
            return entries, False
        after = candidates[-1][0]
        size = max(limit + 1 - len(entries), min(size * 2, MAX_CHUNK))


class SortedIds:
    """A set of user ids also kept in id order: membership O(1), the ids after one
    O(log n + count). An add or a removal moves the list's tail (a memmove: microseconds
    at a million ids)."""

    __slots__ = ("ids", "members")

    def __init__(self) -> None:
        self.ids: list[str] = []
        self.members: set[str] = set()

    def __len__(self) -> int:
        return len(self.ids)

    def __contains__(self, user: object) -> bool:
        return user in self.members

    def add(self, user: str) -> None:
        if user not in self.members:
            self.members.add(user)
            insort(self.ids, user)

    def discard(self, user: str) -> None:
        if user in self.members:
            self.members.remove(user)
            del self.ids[bisect_right(self.ids, user) - 1]

    def after(self, user: str | None, count: int) -> tuple[list[str], bool]:
        """Up to `count` ids after `user` (None: from the first), and whether that is the
        end."""
        start = 0 if user is None else bisect_right(self.ids, user)
        return self.ids[start:start + count], start + count >= len(self.ids)


_EMPTY = SortedIds()


# The per-user indexes a pair's change touches: ("following", user, app, member),
# ("followers", user, app, member), ("blocking", user, None, member), each added or removed.
IndexOp = tuple[bool, str, str, str | None, str]


def index_ops(before: Relations, after: Relations) -> list[IndexOp]:
    """What changes in the per-user sets when the pair goes from `before` to `after`."""
    ops: list[IndexOp] = []
    for add, follows in ((False, before.follows - after.follows),
                         (True, after.follows - before.follows)):
        for app, follower in sorted(follows):
            followed = after.other(follower)
            ops.append((add, "following", follower, app, followed))
            ops.append((add, "followers", followed, app, follower))
    for add, blocks in ((False, before.blocks - after.blocks),
                        (True, after.blocks - before.blocks)):
        for blocker in sorted(blocks):
            ops.append((add, "blocking", blocker, None, after.other(blocker)))
    return ops


def relations_to_data(relations: Relations) -> dict[str, Any]:
    return {"follows": [list(f) for f in sorted(relations.follows)],
            "blocks": sorted(relations.blocks)}


def relations_from_data(x: str, y: str, data: Mapping[str, Any] | None) -> Relations:
    if not data:
        return Relations.between(x, y)
    return Relations.between(x, y, follows=[(str(app), str(f)) for app, f in data["follows"]],
                             blocks=[str(b) for b in data["blocks"]])


class MemoryPeople:
    """The one-node people store. Every method's check and write happen without an await in
    between, so each pair change is atomic on the event loop."""

    def __init__(self) -> None:
        self._profiles: dict[str, Profile] = {}
        self._pairs: dict[tuple[str, str], Relations] = {}
        self._following: dict[tuple[str, str], SortedIds] = {}
        self._followers: dict[tuple[str, str], SortedIds] = {}
        self._blocking: dict[str, SortedIds] = {}

    async def profile(self, user: str) -> Profile | None:
        return self._profiles.get(user)

    async def profiles(self, users: Sequence[str]) -> dict[str, Profile]:
        return {u: p for u in users if (p := self._profiles.get(u)) is not None}

    async def update_profile(self, user: str, fields: Mapping[str, Any]) -> Profile:
        check_fields(fields)
        current = self._profiles.get(user)
        profile = (new_profile(user, fields) if current is None
                   else replace(current, **_typed(fields)))
        self._profiles[user] = profile
        return profile

    async def relations(self, x: str, y: str) -> Relations:
        return self._pairs.get(_pair_key(x, y)) or Relations.between(x, y)

    async def change_relations(self, x: str, y: str, change: Change[T]) -> tuple[Relations, T]:
        key = _pair_key(x, y)
        before = self._pairs.get(key) or Relations.between(x, y)
        after, result = change(before)
        if after != before:
            self._pairs[key] = after
            for add, kind, user, app, member in index_ops(before, after):
                self._apply(add, kind, user, app, member)
        return after, result

    def _apply(self, add: bool, kind: str, user: str, app: str | None, member: str) -> None:
        if kind == "blocking":
            index: dict[Any, SortedIds] = self._blocking
            key: Any = user
        else:
            index = self._following if kind == "following" else self._followers
            key = (user, app)
        members = index.get(key)
        if members is None:
            members = index[key] = SortedIds()
        if add:
            members.add(member)
        else:
            members.discard(member)
            if not members:
                del index[key]

    async def follow_page(self, user: str, app: str, which: Which, after: str | None,
                          limit: int) -> tuple[list[tuple[str, bool]], bool]:
        following = self._following.get((user, app), _EMPTY)
        followers = self._followers.get((user, app), _EMPTY)
        blocking = self._blocking.get(user, _EMPTY)
        walk_following = (
            which is Which.FOLLOWING
            or (which is Which.FRIENDS and len(following) <= len(followers)))
        walked = (blocking if which is Which.BLOCKED
                  else following if walk_following else followers)

        async def read(start: str | None, count: int) -> tuple[list[Candidate], bool]:
            return self._candidates(walked, following, followers, blocking, start, count)

        return await walk_page(which, read, after, limit)

    @staticmethod
    def _candidates(walked: SortedIds, following: SortedIds, followers: SortedIds,
                    blocking: SortedIds, start: str | None,
                    count: int) -> tuple[list[Candidate], bool]:
        ids, done = walked.after(start, count)
        return [(u, u in following, u in followers, u in blocking) for u in ids], done

    async def follows(self, user: str, app: str) -> tuple[set[str], set[str]]:
        return (set(self._following.get((user, app), _EMPTY).ids),
                set(self._followers.get((user, app), _EMPTY).ids))

    async def blocking(self, user: str) -> set[str]:
        return set(self._blocking.get(user, _EMPTY).ids)


def _pair_key(x: str, y: str) -> tuple[str, str]:
    a, b = sorted((x, y))
    return a, b
