"""Every Redis key and channel name of the project, in one place.

With the default prefix `vr` (`{id}` is a hash tag: one room's keys share a cluster slot):

The store's (store/redis.py):
- `vr:{<room>}:room`   hash  `v` version, `b` msgpack of `Room.to_dict()`, `s` msgpack of
                             `Room.summary()` (what `list_rooms` shows), `e` the room's message
                             sequence number; no TTL (a room lives until it is closed)
- `vr:seated`          hash  user -> room id, for every seated user (one seat per user across
                             rooms)
- `vr:rooms`           zset  room id scored by `created_at` (`list_rooms`, newest first)
- `vr:deadlines`       zset  room id scored by its next grace deadline (`due_rooms`)
- `vr:events`          channel: one message per commit (store/wire.py has its format)

The cluster's (cluster/):
- `vr:{<room>}:owner`  string  the node that owns the room's media (a lease: PX expiry)
- `vr:nodes`           hash  node id -> msgpack info, every node that joined
- `vr:node:<id>`       string  the node's heartbeat (PX expiry)
- `vr:node:<id>:owned` set  the room ids whose media the node owns
- `vr:node:<id>:presence` set  "room<TAB>user" of the members connected through the node
- `vr:node:<id>:inbox` channel: offer requests to the node and replies to its requests
"""

from __future__ import annotations

DEFAULT_PREFIX = "vr"


class Keys:
    """The key names under one prefix."""

    def __init__(self, prefix: str = DEFAULT_PREFIX) -> None:
        self.prefix = prefix
        self.seated = f"{prefix}:seated"
        self.rooms = f"{prefix}:rooms"
        self.deadlines = f"{prefix}:deadlines"
        self.events = f"{prefix}:events"
        self.nodes = f"{prefix}:nodes"

    def room(self, room_id: str) -> str:
        return f"{self.prefix}:{{{room_id}}}:room"

    def owner(self, room_id: str) -> str:
        """The media owner lease of a room."""
        return f"{self.prefix}:{{{room_id}}}:owner"

    def heartbeat(self, node_id: str) -> str:
        return f"{self.prefix}:node:{node_id}"

    def owned(self, node_id: str) -> str:
        return f"{self.prefix}:node:{node_id}:owned"

    def presence(self, node_id: str) -> str:
        return f"{self.prefix}:node:{node_id}:presence"

    def inbox(self, node_id: str) -> str:
        return f"{self.prefix}:node:{node_id}:inbox"
