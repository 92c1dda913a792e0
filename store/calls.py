"""Where calls live: the `CallStore` protocol, `MemoryCalls` (here) and `RedisCalls`
(store/calls_redis.py); both pass tests/store/test_calls_contract.py.

- `load(call_id)` -> `StoredCall(call, version)` or None (unknown, or ended: an ended call is
  gone, `no_such_call` for everyone).
- `calls_of(user)` -> the live calls the user is a party to.
- `commit(old, new, events)` stores `new` if the stored version is still `old.version` (`old`
  None: a new call, `Conflict` if the id exists), and returns it with its new version. An
  ended `new` removes the call. In the same atomic step it keeps each user's **slots**: the
  call ringing out from them (`calling`) and the active call they are in (`in_call`). A user
  holds at most one of the two, one call in it: a commit that would give a user a second
  raises `CallError(already_in_call)`, and a new call to a callee in another active call
  raises `CallError(busy)`; nothing is written then. This is what keeps anyone from being in
  two calls when requests race, on one node or several. With Redis the events are published
  in the same step (store/user_events.py), so every node sees a call's changes in order.
- `due_calls(now)` -> ids of live calls whose `next_deadline()` is at or before `now`.
- `start(sink)` hands other nodes' user-event batches to `sink` (Redis); `close()`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from calls.errors import CallError
from calls.machine import CallEvent
from calls.model import CallState, CallStatus
from protocol.errors import ErrorCode
from store.base import Conflict
from store.user_events import UserBatch

UserSink = Callable[[UserBatch], Awaitable[None] | None]

# A party's slot after a commit: ringing out, in the active call, or neither (a ringing
# callee; an ended call's parties).
CALLING, IN_CALL, NONE = "r", "a", "-"


@dataclass(frozen=True, slots=True)
class StoredCall:
    call: CallState
    version: int


@runtime_checkable
class CallStore(Protocol):
    async def load(self, call_id: str) -> StoredCall | None: ...

    async def calls_of(self, user: str) -> list[StoredCall]: ...

    async def commit(self, old: StoredCall | None, new: CallState,
                     events: Sequence[CallEvent]) -> StoredCall: ...

    async def due_calls(self, now: float) -> list[str]: ...

    async def start(self, sink: UserSink) -> None: ...

    async def close(self) -> None: ...


def slots(call: CallState) -> tuple[str, str]:
    """(caller's slot, callee's slot) that the call holds."""
    if call.state is CallStatus.RINGING:
        return CALLING, NONE
    if call.state is CallStatus.ACTIVE:
        return IN_CALL, IN_CALL
    return NONE, NONE


def already_in_call(user: str) -> CallError:
    return CallError(ErrorCode.ALREADY_IN_CALL, f"{user} is in a call or calling already")


def busy(user: str) -> CallError:
    return CallError(ErrorCode.BUSY, f"{user} is in another call")


class MemoryCalls:
    """The one-node call store: dicts; no await between a commit's checks and its writes."""

    def __init__(self) -> None:
        self._calls: dict[str, StoredCall] = {}
        self._calling: dict[str, str] = {}
        self._in_call: dict[str, str] = {}
        self._of_user: dict[str, set[str]] = {}
        self._deadlines: dict[str, float] = {}

    async def start(self, sink: UserSink) -> None:
        pass  # one node: every batch comes back from the service itself

    async def close(self) -> None:
        pass

    async def load(self, call_id: str) -> StoredCall | None:
        return self._calls.get(call_id)

    async def calls_of(self, user: str) -> list[StoredCall]:
        return [self._calls[c] for c in sorted(self._of_user.get(user, ()))
                if c in self._calls]

    async def commit(self, old: StoredCall | None, new: CallState,
                     events: Sequence[CallEvent]) -> StoredCall:
        stored = self._calls.get(new.id)
        if old is None:
            if stored is not None:
                raise Conflict(f"call {new.id} exists")
        elif stored is None or stored.version != old.version:
            raise Conflict(f"call {new.id} changed")
        wanted = slots(new)
        parties = (new.caller.user, new.callee.user)
        for user, slot in zip(parties, wanted, strict=True):
            if slot == NONE:
                continue
            calling, in_call = self._calling.get(user), self._in_call.get(user)
            if calling not in (None, new.id) or in_call not in (None, new.id):
                raise already_in_call(user)
        if old is None and wanted[1] == NONE:
            in_call = self._in_call.get(new.callee.user)
            if in_call is not None and in_call != new.id:
                raise busy(new.callee.user)
        for user, slot in zip(parties, wanted, strict=True):
            for index, kind in ((self._calling, CALLING), (self._in_call, IN_CALL)):
                if slot == kind:
                    index[user] = new.id
                elif index.get(user) == new.id:
                    del index[user]
        after = StoredCall(new, 1 if old is None else old.version + 1)
        if not new.live:
            self._calls.pop(new.id, None)
            self._deadlines.pop(new.id, None)
            for user in parties:
                ids = self._of_user.get(user)
                if ids is not None:
                    ids.discard(new.id)
                    if not ids:
                        del self._of_user[user]
            return after
        self._calls[new.id] = after
        for user in parties:
            self._of_user.setdefault(user, set()).add(new.id)
        deadline = new.next_deadline()
        if deadline is None:
            self._deadlines.pop(new.id, None)
        else:
            self._deadlines[new.id] = deadline
        return after

    async def due_calls(self, now: float) -> list[str]:
        return [call_id for call_id, at in self._deadlines.items() if at <= now]
