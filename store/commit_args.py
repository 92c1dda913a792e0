"""What `RedisStore.commit` hands store/lua.py's COMMIT script: its keys and arguments for a
change of one room (the script's header comment says what each one is)."""

from __future__ import annotations

from typing import Any

from rooms.delta import room_delta
from rooms.machine import Event
from rooms.model import Room
from store.keys import Keys
from store.wire import message_header, pack, room_blob


def commit_request(keys: Keys, node_id: str, old: Room | None, new: Room | None,
                   events: list[Event], host_limit: int | None) -> tuple[str, list[str], list[Any]]:
    """The room's id, and the script's KEYS and ARGV to store ``new`` (None: the room is gone)
    over ``old`` (None: a creation) and publish ``events``."""
    either = new if new is not None else old
    if either is None:
        raise ValueError("commit needs an old or a new room")
    room_id = either.id
    before = old.seated_users() if old is not None else {}
    after = new.seated_users() if new is not None else {}
    released = [user for user in before if user not in after]
    write = old is None or new is None or new.version != old.version
    banned_before = old.banned if old is not None else set()
    banned_after = new.banned if new is not None else set()
    banned = sorted(banned_after - banned_before)
    unbanned = sorted(banned_before - banned_after) if new is not None else []
    if new is None:
        assert old is not None
        mode, version = "d", old.version + 1
        blob = summary = b""
        head = None
        deadline = None
        created_at = "0"
    else:
        # An unchanged room (a chat line) sends Redis and the channel no room at all.
        mode, version = ("w" if write else "u"), new.version
        head = new.head_dict() if write else None
        blob = room_blob(new, head) if write else b""
        summary = pack(new.summary()) if write else b""
        deadline = new.next_deadline()
        created_at = repr(new.created_at)
    # Other nodes' copies follow the change alone when it is the smaller (a member joining a
    # room, a seat taken); a creation, or a change as big as the room, sends the room.
    delta = None
    if write and old is not None and new is not None:
        delta = room_delta(old, new, head)
        if delta is not None and len(pack(delta)) >= len(blob):
            delta = None
    header = message_header(room_id, version, node_id, events, unchanged=not write,
                            bans=(banned, unbanned), delta=delta)
    args: list[Any] = [
        room_id,
        "" if old is None else str(old.version),
        str(version),
        blob,
        summary,
        created_at,
        "" if deadline is None else repr(deadline),
        keys.events,
        header,
        mode,
        "" if host_limit is None or old is not None else str(host_limit),
        "" if delta is not None else "b",
        len(after),
        len(released),
        len(banned),
        len(unbanned),
        *after,
        *released,
        *banned,
        *unbanned,
    ]
    script_keys = [keys.room(room_id), keys.seated, keys.rooms, keys.deadlines,
                   keys.hosting(either.host), keys.bans(room_id)]
    return room_id, script_keys, args
