"""`MatchService`: random matching of verified users (連線), docs/protocol.md "Random matching".

`match_join` puts the user into the store's queue (store/match.py: shared by every node with
Redis); `match_leave`, or the user's last connection closing, takes them out. One node at a
time leads the pairing (the store's lease, `LEAD_TTL`): it reads the queue when it changed,
chooses pairs with `calls.matching.pick_pairs` (blocks and the rematch window from the store,
read once per queue entry), and commits each pair with the store's one atomic step, which
re-checks everything and creates the call (`calls.machine.start_match`: active at once). The
`match_found` events go out as the store published them (other nodes) and through the sink
(this node). Whatever is refused is looked at again in the next round, at once.

A leader killed mid-way leaves every pair either made or not (the store's step is atomic); the
next leader takes the lease when it lapses, or at once when the cluster finds the node dead
(`node_lost`), and pairs the users still waiting. The users that the dead node connected are
dropped from the queue (they have no connection left), and a survivor already paired with one
of them is in a call whose party is away: the call service ends it after the grace.

`report` keeps a report for moderators when the reporter met the reported user: both members
of a room the reporter's connection is in now, a live call between them, or a match within
`store.match.HISTORY` (7 days).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Collection, Sequence

from calls.machine import Actor, MatchSide, start_match
from calls.matching import REMATCH_WINDOW, pair_key, pick_pairs
from protocol.errors import ErrorCode, ProtocolError
from protocol.schema import CityChoice
from rooms.model import Room
from services.calls import new_call_id
from store.base import Conflict
from store.calls import CallStore
from store.match import HISTORY, Entry, MatchStore, Refused, Report
from store.people import PeopleStore
from store.presence import Presence
from store.user_events import UserBatch

log = logging.getLogger(__name__)

ROUND = 0.05
"""Seconds between the leader's looks at the queue (a join on the leader's node: at once)."""
FULL_ROUND = 0.5
"""A full pass at least this often while two or more wait, changed or not (a rematch window
may have run out)."""
LEAD_TTL = 3.0
"""The pairing lead's lease: a leader that stops renewing is replaced within this."""
RENEW_EVERY = 1.0
"""How often the leader renews its lease, and another node tries to take it."""
SWEEP_EVERY = 10.0
"""How often the leader drops waiting users who have no connection left anywhere."""

Sink = Callable[[UserBatch], Awaitable[None] | None]
RoomLookup = Callable[[str], Awaitable[Room | None]]


class MatchService:
    def __init__(
        self,
        store: MatchStore,
        calls: CallStore,
        people: PeopleStore,
        presence: Presence,
        *,
        node_id: str = "",
        rooms: RoomLookup | None = None,
        clock: Callable[[], float] = time.time,
        new_call_id: Callable[[], str] = new_call_id,
    ) -> None:
        self.store = store
        self.calls = calls
        self.people = people
        self.presence = presence
        self.node_id = node_id
        self.rooms = rooms
        self.clock = clock
        self._new_call_id = new_call_id
        self._sink: Sink | None = None
        self._wake = asyncio.Event()
        self.paired = 0
        """Pairs this node made (a counter for /metrics)."""
        # The leader's knowledge, per waiting user, read once per queue entry (stamp):
        # whom they were paired with lately and whom they block.
        self._known: dict[str, str] = {}
        self._recent: dict[str, dict[str, float]] = {}
        self._blocks: dict[str, set[str]] = {}
        self._leading = False
        self._next_lead = 0.0
        self._seen_version = -1
        self._again = False
        self._next_full = 0.0
        self._next_sweep = 0.0
        # Entries joined through this node, by user: written back if the cluster took this
        # node for dead and dropped them (`restore`).
        self._mine: dict[str, Entry] = {}

    def set_sink(self, sink: Sink) -> None:
        """Where this node's pairs' batches go (its own connections)."""
        self._sink = sink

    # -- requests --------------------------------------------------------------------------

    async def join(self, actor: Actor, *, verified: bool, city: CityChoice,
                   tags: Sequence[str] | None) -> None:
        """`match_join`: into the queue, or new preferences for a user waiting already (who
        keeps their place: the wait counts from the first join)."""
        # Read at once (one round trip on Redis), checked in the protocol's order below.
        profile, mine, old = await asyncio.gather(
            self.people.profile(actor.user), self.calls.calls_of(actor.user),
            self.store.entry(actor.user))
        home = profile.city if profile is not None else None
        if city is CityChoice.SAME and not home:
            raise ProtocolError(ErrorCode.BAD_REQUEST, "city 'same' needs a city in your "
                                "profile: set_profile {city} first, or ask for any city",
                                field="city")
        if not verified:
            raise ProtocolError(ErrorCode.NOT_VERIFIED,
                                "only real-name verified users can be matched")
        if any(stored.call.live for stored in mine):
            raise ProtocolError(ErrorCode.ALREADY_IN_CALL,
                                "you are in a call or one is ringing: end it first")
        now = self.clock()
        entry = Entry(
            user=actor.user,
            name=actor.name or actor.user,
            city=home or None,
            tags=tuple(tags) if tags is not None else (profile.tags if profile else ()),
            same_city=city is CityChoice.SAME,
            joined_at=old.joined_at if old is not None else now,
            conn=actor.conn or "",
            app=actor.app,
            node=self.node_id,
        )
        await self.store.join(entry)
        self._mine[actor.user] = entry
        self.wake()

    async def leave(self, user: str) -> bool:
        """`match_leave`: out of the queue (True if the user was waiting)."""
        self._mine.pop(user, None)
        return await self.store.leave(user)

    async def report(self, actor: Actor, user: str, reason: str,
                     rooms: Collection[str] = ()) -> Report:
        """`report`: kept if the reporter met `user` (`rooms`: the rooms the reporter's
        connection is in)."""
        if user == actor.user:
            raise ProtocolError(ErrorCode.BAD_REQUEST, "you cannot report yourself",
                                field="user")
        if await self.people.profile(user) is None:
            raise ProtocolError(ErrorCode.NO_SUCH_USER, f"no user {user!r}", field="user")
        where = await self._where_met(actor.user, user, rooms)
        if where is None:
            raise ProtocolError(ErrorCode.FORBIDDEN, "you can report someone in a room or a "
                                "call with you, or someone you were matched with lately")
        report = Report(actor.user, user, reason, self.clock(), where, self.node_id)
        await self.store.add_report(report)
        return report

    async def _where_met(self, reporter: str, user: str, rooms: Collection[str]) -> str | None:
        for stored in await self.calls.calls_of(reporter):
            if user in stored.call.users:
                return f"call:{stored.call.id}"
        if await self.store.met(reporter, user, self.clock() - HISTORY):
            return "match"
        if self.rooms is not None:
            for room_id in sorted(rooms):
                room = await self.rooms(room_id)
                if room is not None and room.is_member(reporter) and room.is_member(user):
                    return f"room:{room_id}"
        return None

    # -- comings and goings ----------------------------------------------------------------

    async def connection_closed(self, user: str, conn: str) -> None:
        """A connection of `user` closed: with none left anywhere, they leave the queue."""
        mine = self._mine.get(user)
        if mine is not None and mine.conn == conn:
            del self._mine[user]
        await self.store.leave_if_absent(user)

    async def node_lost(self, dead: str) -> None:
        """A node died: its lead ends now, and its users (connections gone) leave the queue."""
        await self.store.release(dead)
        await self.store.sweep_absent()
        self._next_lead = 0.0  # it may have led: try for the lead at the next look
        self.wake()

    async def restore(self) -> None:
        """This node was taken for dead and its users dropped from the queue: each one joined
        here, still connected, neither waiting nor paired since, is put back as they were."""
        for user, entry in list(self._mine.items()):
            current = await self.store.entry(user)
            if current is not None:
                if current.stamp != entry.stamp:
                    self._mine.pop(user, None)  # joined again elsewhere
                continue
            paired = (await self.store.history([user], entry.joined_at)).get(user)
            if paired or not await self.presence.apps(user):
                self._mine.pop(user, None)
                continue
            await self.store.join(entry)
        self.wake()

    # -- pairing ---------------------------------------------------------------------------

    def wake(self) -> None:
        self._wake.set()

    async def run(self, interval: float = ROUND) -> None:
        """Pair forever (run it as a task; cancel it to stop); the lead is given up at the
        end so another node takes over at once."""
        try:
            while True:
                self._wake.clear()
                try:
                    await self.step()
                except Exception:  # the loop must outlive a store hiccup
                    log.exception("match round failed")
                    self._leading = False
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), interval)
        finally:
            if self._leading:
                self._leading = False
                try:
                    await asyncio.shield(self.store.resign(self.node_id))
                except Exception:
                    log.warning("giving up the pairing lead failed")

    async def step(self, now: float | None = None) -> list[UserBatch]:
        """One look at the queue, if this node leads: the pairs made (their batches)."""
        now = self.clock() if now is None else now
        if not await self._lead(now):
            return []
        if now >= self._next_sweep:
            self._next_sweep = now + SWEEP_EVERY
            await self.store.sweep_absent()
        forced = self._again or now >= self._next_full
        version, entries = await self.store.snapshot(-1 if forced else self._seen_version)
        if entries is None:
            return []
        self._seen_version, self._again, self._next_full = version, False, now + FULL_ROUND
        return await self.pair_round(now, entries)

    async def _lead(self, now: float) -> bool:
        if now < self._next_lead:
            return self._leading
        self._leading = await self.store.lead(self.node_id, LEAD_TTL)
        self._next_lead = now + (RENEW_EVERY if self._leading else RENEW_EVERY / 2)
        if not self._leading:
            self._known.clear()
            self._recent.clear()
            self._blocks.clear()
        return self._leading

    async def pair_round(self, now: float, entries: Sequence[Entry] | None = None
                         ) -> list[UserBatch]:
        """Pairs among `entries` (default: the queue as it is), committed; their batches."""
        if entries is None:
            entries = await self.store.waiting()
        if len(entries) < 2:
            return []
        busy = await self._learn(entries, now)
        if busy:
            # In a call or ringing out since they joined: out of the queue.
            await self.store.drop([e for e in entries if e.user in busy])
            entries = [e for e in entries if e.user not in busy]
        recent = {pair_key(e.user, partner): at for e in entries
                  for partner, at in self._recent[e.user].items()}
        blocks = [(e.user, blocked) for e in entries for blocked in self._blocks[e.user]]
        pairs = pick_pairs([e.waiting() for e in entries], recent=recent, blocks=blocks,
                           now=now)
        by_user = {e.user: e for e in entries}
        made = await asyncio.gather(*(self._commit(by_user[a], by_user[b], now)
                                      for a, b in pairs))
        return [batch for batch in made if batch is not None]

    async def _learn(self, entries: Sequence[Entry], now: float) -> set[str]:
        """In one read: who of `entries` is busy (returned), and the rematch window and the
        blocks of each entry not seen yet (kept)."""
        waiting = {e.user for e in entries}
        for user in [u for u in self._known if u not in waiting]:
            del self._known[user]
            self._recent.pop(user, None)
            self._blocks.pop(user, None)
        fresh = [e for e in entries if self._known.get(e.user) != e.stamp]
        facts = await self.store.facts([e.user for e in entries], [e.user for e in fresh],
                                       now - REMATCH_WINDOW)
        for e in fresh:
            self._known[e.user] = e.stamp
            self._recent[e.user] = facts.recent.get(e.user, {})
            self._blocks[e.user] = facts.blocks.get(e.user, set())
        return facts.busy

    async def _commit(self, a: Entry, b: Entry, now: float) -> UserBatch | None:
        outcome = start_match(self._new_call_id(), _side(a), _side(b), now)
        try:
            refused = await self.store.commit_pair(a, b, outcome.call, outcome.events, now)
        except Conflict:
            self._again = True
            return None
        if refused is not None:
            self._refused(a, b, refused)
            return None
        self.paired += 1
        self._mine.pop(a.user, None)
        self._mine.pop(b.user, None)
        batch = UserBatch.of_call(outcome.call, 1, outcome.events, self.node_id)
        await self._deliver(batch)
        return batch

    def _refused(self, a: Entry, b: Entry, refused: Refused) -> None:
        # What the pick did not know (a block or pairing since the entries were read) is read
        # again; the others (gone, offline, busy) changed the queue. Either way: again, now.
        log.debug("pair %s-%s refused: %s %s", a.user, b.user, refused.reason, refused.user)
        for user in (a.user, b.user):
            self._known.pop(user, None)
        self._again = True
        self.wake()

    async def _deliver(self, batch: UserBatch) -> None:
        if self._sink is None:
            return
        try:
            result = self._sink(batch)
            if inspect.isawaitable(result):
                await result
        except Exception:
            log.exception("delivering match_found failed")


def _side(entry: Entry) -> MatchSide:
    return MatchSide(Actor(entry.user, entry.name, entry.app, entry.conn or None), entry.card())


__all__ = ["FULL_ROUND", "LEAD_TTL", "ROUND", "MatchService", "RoomLookup"]
