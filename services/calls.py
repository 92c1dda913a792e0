"""`CallService`: one-to-one calls (docs/protocol.md "Calls (one to one)") through `calls/`'s
pure machine: gather -> `place_call` / `apply` -> commit -> events.

What a call needs to know is gathered at once (the callee's profile, the pair's relations,
the callee's apps online, each side's live calls); the store's commit makes it right under
races: a version check per call (a `Conflict` reloads and applies again) and the users'
slots (nobody in two calls, on any node). Events go back to the caller as a `UserBatch`,
sent after the reply; the sweeper's (ring timeouts, graces) go to the sink.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

from calls.errors import CallError, Stale
from calls.machine import (
    DEFAULT_RING_TIMEOUT,
    Actor,
    CallEvent,
    CallEventType,
    Dropped,
    Outcome,
    Recipients,
    Returned,
    apply,
    expire,
    place_call,
)
from calls.model import CallState, CallStatus
from calls.policy import AppPolicy
from protocol.errors import ErrorCode, ProtocolError
from protocol.schema import AnswerCall, DeclineCall, Hangup
from services.rooms import DEFAULT_GRACE
from services.sweeping import sweep_forever
from store.base import Conflict
from store.calls import CallStore, StoredCall
from store.people import PeopleStore
from store.presence import Presence
from store.user_events import UserBatch

log = logging.getLogger(__name__)

# A call changed this many times under one request is too busy: the client may retry.
MAX_ATTEMPTS = 50

UserSink = Callable[[UserBatch], Awaitable[None] | None]


def new_call_id() -> str:
    # 96 random bits: never reused in practice, and unguessable (ids are not secrets, but a
    # guess must not find someone's call).
    return secrets.token_urlsafe(12)


class CallService:
    def __init__(
        self,
        store: CallStore,
        people: PeopleStore,
        presence: Presence,
        policy: AppPolicy | None = None,
        *,
        ring_timeout: float = DEFAULT_RING_TIMEOUT,
        grace: float = DEFAULT_GRACE,
        clock: Callable[[], float] = time.time,
        new_call_id: Callable[[], str] = new_call_id,
        node_id: str = "",
    ) -> None:
        self.store = store
        self.people = people
        self.presence = presence
        self.policy = policy or AppPolicy.default()
        self.ring_timeout = float(ring_timeout)
        self.grace = float(grace)
        self.clock = clock
        self._new_call_id = new_call_id
        self.node_id = node_id
        self._sink: UserSink | None = None

    # -- life ------------------------------------------------------------------------------

    def set_sink(self, sink: UserSink) -> None:
        """Where the sweeper's batches and other nodes' batches go."""
        self._sink = sink

    async def start(self) -> None:
        await self.store.start(self._deliver)

    async def close(self) -> None:
        await self.store.close()

    async def _deliver(self, batch: UserBatch) -> None:
        if self._sink is None or not batch.events:
            return
        result = self._sink(batch)
        if inspect.isawaitable(result):
            await result

    def _batch(self, stored: StoredCall, outcome: Outcome) -> UserBatch:
        return UserBatch.of_call(stored.call, stored.version, outcome.events, self.node_id)

    # -- requests --------------------------------------------------------------------------

    async def call(self, actor: Actor, user: str, video: bool) -> tuple[dict[str, Any],
                                                                       UserBatch]:
        """`call {user, video}`: a new ringing call, or the callee's ringing call to the actor
        answered (a call-back)."""
        for _ in range(MAX_ATTEMPTS):
            profile, relations, apps, mine, theirs = await asyncio.gather(
                self.people.profile(user) if user != actor.user else _none(),
                self.people.relations(actor.user, user) if user != actor.user else _none(),
                self.presence.apps(user),
                self.store.calls_of(actor.user),
                self.store.calls_of(user),
            )
            stored_by_id = {s.call.id: s for s in mine}
            outcome = place_call(
                call_id=self._new_call_id(),
                caller=actor,
                callee_user=user,
                callee_name=None if profile is None else profile.name,
                video=video,
                now=self.clock(),
                policy=self.policy,
                friends=relations is not None and relations.mutual(actor.app or ""),
                blocked=relations is not None and relations.blocked,
                callee_apps_online=apps,
                caller_calls=[s.call for s in mine],
                callee_calls=[s.call for s in theirs],
                ring_timeout=self.ring_timeout,
            )
            old = stored_by_id.get(outcome.call.id)  # a call-back: the ringing call answered
            try:
                stored = await self.store.commit(old, outcome.call, outcome.events)
            except Conflict:
                continue
            return outcome.reply, self._batch(stored, outcome)
        raise ProtocolError(ErrorCode.INTERNAL, "calls are too busy; try again")

    async def execute(self, actor: Actor, command: AnswerCall | DeclineCall | Hangup
                      ) -> tuple[dict[str, Any], UserBatch]:
        return await self._run(command.call, actor, command)

    async def list_calls(self, user: str) -> list[dict[str, Any]]:
        calls = sorted((s.call for s in await self.store.calls_of(user)),
                       key=lambda c: (c.created_at, c.id))
        return [call.wire() for call in calls]

    async def check_offer(self, actor: Actor, call_id: str) -> CallState:
        """The call, if the actor may connect media to it: a party of an active call."""
        stored = await self.store.load(call_id)
        if stored is None or stored.call.role_of(actor.user) is None:
            raise _no_such_call(call_id)
        if stored.call.state is not CallStatus.ACTIVE:
            raise CallError(ErrorCode.FORBIDDEN, "the call is not active yet: media connects "
                            "once it is answered")
        return stored.call

    async def _run(self, call_id: str, actor: Actor, command: object,
                   now: float | None = None) -> tuple[dict[str, Any], UserBatch]:
        for _ in range(MAX_ATTEMPTS):
            stored = await self.store.load(call_id)
            if stored is None or (actor.user and stored.call.role_of(actor.user) is None):
                raise _no_such_call(call_id)
            outcome = apply(stored.call, actor, command, self.clock() if now is None else now)
            if isinstance(command, Hangup):
                outcome = _tell_own_devices(outcome, actor)
            try:
                after = await self.store.commit(stored, outcome.call, outcome.events)
            except Conflict:
                continue
            return outcome.reply, self._batch(after, outcome)
        raise ProtocolError(ErrorCode.INTERNAL, "the call is too busy; try again")

    # -- comings and goings ----------------------------------------------------------------

    async def connection_lost(self, user: str) -> list[UserBatch]:
        """The user has no connection left anywhere: hold them `grace` seconds in each call."""
        if await self.presence.apps(user):
            return []
        return await self._each_call(user, Dropped(self.grace))

    async def connection_back(self, user: str) -> list[UserBatch]:
        """The user has a connection again: back in each call where they were away."""
        return await self._each_call(user, Returned())

    async def _each_call(self, user: str, command: object) -> list[UserBatch]:
        batches = []
        for stored in await self.store.calls_of(user):
            try:
                _, batch = await self._run(stored.call.id, Actor(user), command)
            except (Stale, CallError):
                continue  # not away / away already / ended meanwhile
            batches.append(batch)
        return batches

    # -- deadlines -------------------------------------------------------------------------

    async def sweep(self, now: float | None = None) -> list[UserBatch]:
        """End the calls whose ring timeout or grace passed; their events go to the sink."""
        now = self.clock() if now is None else now
        done = []
        for call_id in await self.store.due_calls(now):
            try:
                batch = await self._expire(call_id, now)
            except (Stale, CallError):
                continue
            if batch is None:
                continue
            done.append(batch)
            try:
                await self._deliver(batch)
            except Exception:
                log.exception("delivering the sweep of call %s failed", call_id)
        return done

    async def _expire(self, call_id: str, now: float) -> UserBatch | None:
        for _ in range(MAX_ATTEMPTS):
            stored = await self.store.load(call_id)
            if stored is None:
                return None
            outcome = expire(stored.call, now)
            if outcome is None:
                return None
            try:
                after = await self.store.commit(stored, outcome.call, outcome.events)
            except Conflict:
                continue
            return self._batch(after, outcome)
        return None

    async def run_sweeper(self, interval: float = 1.0) -> None:
        """Sweep forever (run it as a task; cancel it to stop)."""
        await sweep_forever(self.sweep, interval, log, "call sweep failed")


def _tell_own_devices(outcome: Outcome, actor: Actor) -> Outcome:
    """A party who hangs up on one device ends the call on their others too: those get the
    `call_ended` the other party gets (the device carrying the call's media may not be the
    one that hung up). A callee's hangup while ringing is a decline, which stops their other
    ringing connections already."""
    if outcome.call.live or any(actor.user in e.to.users for e in outcome.events):
        return outcome
    reason = outcome.call.reason.value if outcome.call.reason is not None else "hangup"
    mine = CallEvent(CallEventType.CALL_ENDED, outcome.call,
                     Recipients(frozenset({actor.user}), None, actor.conn), {"reason": reason})
    return replace(outcome, events=[*outcome.events, mine])


def _no_such_call(call_id: str) -> CallError:
    return CallError(ErrorCode.NO_SUCH_CALL, f"no call {call_id!r}", field="call")


async def _none() -> None:
    return None
