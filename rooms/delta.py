"""What changed in a room from one version to the next, and that change applied (PURE).

A cluster's nodes keep a copy of the rooms they serve current through the event channel. A
room of thousands of members is large while most commits change one member or one seat, so
a commit carries its delta rather than the whole room: `{"f": {field: value}, "m": {user: row
or None}}`, `f` the `Room.head_dict` fields whose value changed (the version always does),
`m` the members added or changed (a `to_dict` row) and removed (None), and `x` the fields
that are no longer there (a room's props back to none) when there are any. Bans are not part of
it (the store carries their changes beside it).

`Room.members` keeps join order (the member list shows it): a delta keeps the order a dict
keeps on its own (changed members stay in place, new ones come last). A commit that moved a
member otherwise has no delta (`room_delta` says None): the whole room goes instead.
"""

from __future__ import annotations

from typing import Any

from rooms.model import Room, member_of_row, member_row

Delta = dict[str, Any]


def room_delta(old: Room, new: Room, after: dict[str, Any] | None = None) -> Delta | None:
    """The change from `old` to `new` (None: the members were reordered; send the room).
    `after`: `new.head_dict()`, when the caller has it already."""
    before = old.head_dict()
    if after is None:
        after = new.head_dict()
    delta: Delta = {"f": {name: value for name, value in after.items()
                          if name not in before or before[name] != value}}
    gone = [name for name in before if name not in after]  # props back to none, say
    if gone:
        delta["x"] = gone
    old_members, new_members = old.members, new.members
    # A copied room shares its unchanged Member tuples: `is` settles most of them at once.
    members: dict[str, list[Any] | None] = {
        user: member_row(member) for user, member in new_members.items()
        if old_members.get(user) is not member and old_members.get(user) != member}
    removed = [user for user in old_members if user not in new_members]
    members.update(dict.fromkeys(removed))
    kept = [user for user in old_members if user in new_members] if removed \
        else list(old_members)
    if list(new_members)[: len(kept)] != kept:
        return None
    delta["m"] = members
    return delta


def apply_delta(base: Room, delta: Delta) -> Room:
    """`base` with `delta` applied: a new room (`base` is left as it was), bans as `base`'s."""
    head = base.head_dict()
    head.update(delta["f"])
    for name in delta.get("x", ()):
        head.pop(name, None)
    members = dict(base.members)
    for user, row in delta["m"].items():
        if row is None:
            members.pop(user, None)
        else:
            members[user] = member_of_row(row)
    room = Room.from_head(head, members)
    room.banned = set(base.banned)
    return room
