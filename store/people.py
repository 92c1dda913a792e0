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
- `follows(user, app)`: `(following, followers)` of the user in the app, hidden follows
  included (`social.graph.follow_view` filters); `blocking(user)`: whom the user blocks.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any, Protocol, TypeVar, runtime_checkable

from social.graph import Relations
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
        self._following: dict[tuple[str, str], set[str]] = {}
        self._followers: dict[tuple[str, str], set[str]] = {}
        self._blocking: dict[str, set[str]] = {}

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
            index: dict[Any, set[str]] = self._blocking
            key: Any = user
        else:
            index = self._following if kind == "following" else self._followers
            key = (user, app)
        members = index.setdefault(key, set())
        if add:
            members.add(member)
        else:
            members.discard(member)
            if not members:
                del index[key]

    async def follows(self, user: str, app: str) -> tuple[set[str], set[str]]:
        return (set(self._following.get((user, app), ())),
                set(self._followers.get((user, app), ())))

    async def blocking(self, user: str) -> set[str]:
        return set(self._blocking.get(user, ()))


def _pair_key(x: str, y: str) -> tuple[str, str]:
    a, b = sorted((x, y))
    return a, b
