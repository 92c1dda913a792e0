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
- `vr:user:<u>:hosting` set  the ids of the rooms u hosts (`--max-rooms-per-host`)
- `vr:{<room>}:bans`   set   the users banned from the room (kept out of the room's blob, so
                             that no ban list travels with every change of the room)
- `vr:events`          channel: one message per commit (store/wire.py has its format)

The cluster's (cluster/):
- `vr:{<room>}:owner`  string  the node that owns the room's media (a lease: PX expiry)
- `vr:nodes`           hash  node id -> msgpack info, every node that joined
- `vr:node:<id>`       string  the node's heartbeat (PX expiry)
- `vr:node:<id>:owned` set  the room ids whose media the node owns
- `vr:node:<id>:presence` set  "room<TAB>user" of the members connected through the node
- `vr:node:<id>:inbox` channel: offer requests to the node and replies to its requests
- `vr:{<room>}:levels` string  msgpack {user: level} of who speaks now, kept by the room's
                               media owner for a lease's time (joiners on other nodes read it)
- `vr:{<room>}:relay`  string  msgpack {node, id, key}: the key of the room's edge relay
                               (cluster/relay.py), written by its media owner while it relays
- `vr:{call:<id>}:owner` string  the node that owns the call's media (a lease, as a room's)
- `vr:node:<id>:calls` set  the call ids whose media the node owns
- `vr:node:<id>:conns` set  "user<TAB>conn" of every connection said hello through the node

People (store/people_redis.py, store/presence.py); `<u>` a user id, `<app>` an app name:
- `vr:profile:<u>`       hash  profile field -> msgpack value (`Profile.wire()`'s fields)
- `vr:pair:<a>:<b>`      hash  everything between users a < b: `v` version, `b` msgpack of
                               {follows: [[app, follower]], blocks: [user]}
- `vr:user:<u>:following:<app>` zset  whom u follows in app (hidden follows included), every
                               score 0 (user id order: pages by ZRANGEBYLEX); a plain set
                               of an earlier version is converted when first touched
                               (store/people_lua.py)
- `vr:user:<u>:followers:<app>` zset  who follows u in app (hidden follows included), as above
- `vr:user:<u>:blocking` set  whom u blocks
- `vr:user:<u>:conns`    hash  conn id -> app, every open connection of u on any node

Calls (store/calls_redis.py):
- `vr:call:<id>`         hash  `v` version, `b` msgpack of `CallState.to_dict()`; deleted when
                               the call ends (an ended call is gone: `no_such_call`)
- `vr:calling`           hash  user -> the call ringing out from them
- `vr:in-call`           hash  user -> the active call they are in
- `vr:user:<u>:calls`    set   the live calls u is a party to
- `vr:call-deadlines`    zset  call id scored by its next deadline (ring timeout, grace)
- `vr:user-events`       channel: user-addressed events (calls', `followed`), store/wire.py

Matching (store/match_redis.py):
- `vr:match:queue`       hash  user -> their queue entry: a 16-character stamp, then msgpack
                               (store/match.py `Entry`)
- `vr:match:version`     string  a counter bumped by every change of the queue
- `vr:match:lead`        string  the node that pairs now (a lease: PX expiry)
- `vr:user:<u>:matched`  zset  whom u was paired with, scored by when (7 days kept)
- `vr:reports`           stream  one entry per accepted `report` (store/match.py `Report`)
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
        self.calling = f"{prefix}:calling"
        self.in_call = f"{prefix}:in-call"
        self.call_deadlines = f"{prefix}:call-deadlines"
        self.user_events = f"{prefix}:user-events"
        self.match_queue = f"{prefix}:match:queue"
        self.match_version = f"{prefix}:match:version"
        self.match_lead = f"{prefix}:match:lead"
        self.reports = f"{prefix}:reports"

    def room(self, room_id: str) -> str:
        return f"{self.prefix}:{{{room_id}}}:room"

    def bans(self, room_id: str) -> str:
        return f"{self.prefix}:{{{room_id}}}:bans"

    def hosting(self, user: str) -> str:
        """The rooms a user hosts (the rooms-per-host bound)."""
        return f"{self.prefix}:user:{user}:hosting"

    def owner(self, room_id: str) -> str:
        """The media owner lease of a room."""
        return f"{self.prefix}:{{{room_id}}}:owner"

    def levels(self, room_id: str) -> str:
        """Who is speaking in the room now, kept by its media owner."""
        return f"{self.prefix}:{{{room_id}}}:levels"

    def relay(self, room_id: str) -> str:
        """The key that signs the room's mix relayed to edge nodes, kept by its media owner."""
        return f"{self.prefix}:{{{room_id}}}:relay"

    def heartbeat(self, node_id: str) -> str:
        return f"{self.prefix}:node:{node_id}"

    def owned(self, node_id: str) -> str:
        return f"{self.prefix}:node:{node_id}:owned"

    def presence(self, node_id: str) -> str:
        return f"{self.prefix}:node:{node_id}:presence"

    def inbox(self, node_id: str) -> str:
        return f"{self.prefix}:node:{node_id}:inbox"

    def node_calls(self, node_id: str) -> str:
        return f"{self.prefix}:node:{node_id}:calls"

    def node_conns(self, node_id: str) -> str:
        return f"{self.prefix}:node:{node_id}:conns"

    # -- people ----------------------------------------------------------------------------

    def profile(self, user: str) -> str:
        return f"{self.prefix}:profile:{user}"

    def pair(self, a: str, b: str) -> str:
        """Everything between users a < b (user ids hold no ':')."""
        return f"{self.prefix}:pair:{a}:{b}"

    def following(self, user: str, app: str) -> str:
        return f"{self.prefix}:user:{user}:following:{app}"

    def followers(self, user: str, app: str) -> str:
        return f"{self.prefix}:user:{user}:followers:{app}"

    def blocking(self, user: str) -> str:
        return f"{self.prefix}:user:{user}:blocking"

    def conns(self, user: str) -> str:
        return f"{self.prefix}:user:{user}:conns"

    # -- calls -----------------------------------------------------------------------------

    def call(self, call_id: str) -> str:
        return f"{self.prefix}:call:{call_id}"

    def call_owner(self, call_id: str) -> str:
        """The media owner lease of a call."""
        return f"{self.prefix}:{{call:{call_id}}}:owner"

    def user_calls(self, user: str) -> str:
        return f"{self.prefix}:user:{user}:calls"

    # -- matching --------------------------------------------------------------------------

    def matched(self, user: str) -> str:
        """Whom the user was paired with lately, and when."""
        return f"{self.prefix}:user:{user}:matched"
