"""`RedisCalls`: the call store for several nodes sharing one Redis (keys in store/keys.py).

A commit is one Lua script (store/lua.py `COMMIT_CALL`): version check, the users' slots
(ringing out, in an active call: nobody in two calls, whatever races across nodes), the
call's record, the per-user index, the deadline index and the PUBLISH of its events on the
user-event channel, in one atomic step. Other nodes' batches come back through
`store.user_channel.UserChannel` to the sink `start` was given.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from calls.machine import CallEvent
from calls.model import CallState
from store import lua, reads
from store.base import Conflict
from store.calls import NONE, StoredCall, UserSink, already_in_call, busy, slots
from store.redis import RedisStore
from store.user_channel import UserChannel
from store.user_events import UserBatch, pack_batch
from store.wire import as_text, pack, unpack


class RedisCalls:
    def __init__(self, store: RedisStore, channel: UserChannel | None = None) -> None:
        self.store = store
        self.redis = store.redis
        self.keys = store.keys
        self.node_id = store.node_id
        self.channel = channel if channel is not None else UserChannel(store)

    async def start(self, sink: UserSink) -> None:
        await self.channel.start(sink)

    async def close(self) -> None:
        await self.channel.close()

    async def load(self, call_id: str) -> StoredCall | None:
        version, blob = await self.store.script(reads.VERSIONED, [self.keys.call(call_id)], [])
        return _stored(version, blob)

    async def calls_of(self, user: str) -> list[StoredCall]:
        flat = await self.store.script(reads.CALLS_OF, [self.keys.user_calls(user)],
                                       [self.keys.call("")])
        out = [_stored(version, blob) for version, blob in zip(flat[::2], flat[1::2],
                                                                strict=True)]
        return sorted((s for s in out if s is not None), key=lambda s: s.call.id)

    async def commit(self, old: StoredCall | None, new: CallState,
                     events: Sequence[CallEvent]) -> StoredCall:
        version = 1 if old is None else old.version + 1
        caller_slot, callee_slot = slots(new)
        deadline = new.next_deadline()
        message = pack_batch(UserBatch.of_call(new, version, events, self.node_id),
                             self.node_id)
        args: list[Any] = [
            new.id,
            "" if old is None else str(old.version),
            str(version),
            pack(new.to_dict()) if new.live else b"",
            "" if deadline is None else repr(deadline),
            new.caller.user,
            new.callee.user,
            caller_slot,
            callee_slot,
            "1" if old is None and callee_slot == NONE else "0",
            self.keys.user_events,
            message,
        ]
        keys = [self.keys.call(new.id), self.keys.calling, self.keys.in_call,
                self.keys.call_deadlines, self.keys.user_calls(new.caller.user),
                self.keys.user_calls(new.callee.user)]
        result = await self.store.script(lua.COMMIT_CALL, keys, args)
        status = as_text(result[0])
        if status == "ok":
            return StoredCall(new, version)
        if status == "conflict":
            raise Conflict(f"call {new.id} changed")
        user = as_text(result[1])
        raise busy(user) if status == "busy" else already_in_call(user)

    async def due_calls(self, now: float) -> list[str]:
        ids = await self.redis.zrangebyscore(self.keys.call_deadlines, "-inf", repr(now))
        return [as_text(call_id) for call_id in ids]


def _stored(version: Any, blob: Any) -> StoredCall | None:
    if not blob:
        return None
    return StoredCall(CallState.from_dict(unpack(blob)), int(version))
