"""Events addressed to users (a call's, `followed`) to this node's connections, and the call
media following its calls.

A batch comes from a request (after its reply), from the call sweeper, or from another node
(store/user_events.py: one channel, a call's batches in commit order). Each event goes to
every local connection its `Recipients` include (the user's, of the named apps, but the one
excluded), encoded once per encoding. A call's batches carry the store's version of the call:
one older than a batch already delivered here is dropped (each event carries the whole call,
so the newer one told the client everything), which keeps a call's events in order even when
this node's own commits and another node's meet.

With a cluster, personal batches (no call) are published here for the other nodes; a call's
are published by the store in the commit itself.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

from protocol import codec
from server.connection import Connection, send_all
from server.metrics import Metrics
from server.subscriptions import Subscriptions
from server.tasks import TaskSet
from store.user_events import UserBatch

log = logging.getLogger(__name__)

# Calls whose last delivered version is remembered (old ones forgotten first): far more than
# ever live at once on one node.
VERSIONS_KEPT = 100_000

Publish = Callable[[UserBatch], Awaitable[None]]
# A feature following every batch delivered on this node, after its frames went out (props:
# the node holding a call's media mixes in a `sound_played`). It must not block.
Follower = Callable[[UserBatch], None]


class UserDelivery:
    def __init__(self, subscriptions: Subscriptions, metrics: Metrics, tasks: TaskSet) -> None:
        self.subscriptions = subscriptions
        self.metrics = metrics
        self.tasks = tasks
        self.media: Any | None = None
        self._publish: Publish | None = None
        self._versions: OrderedDict[str, int] = OrderedDict()
        self.followers: list[Follower] = []

    def attach(self, *, media: Any | None = None, publish: Publish | None = None) -> None:
        """The media engine (follows calls) and, with a cluster, how personal batches reach
        the other nodes."""
        self.media = media
        self._publish = publish

    async def deliver(self, batch: UserBatch) -> None:
        """A batch made on this node (a request's, the sweeper's)."""
        self.deliver_here(batch)
        if batch.call is None and batch.events and self._publish is not None:
            try:
                await self._publish(batch)
            except Exception:
                log.exception("publishing a personal event batch failed")

    def deliver_here(self, batch: UserBatch) -> None:
        """Send a batch to this node's connections (another node's batches come here)."""
        call = batch.call
        if call is not None:
            last = self._versions.get(call.id)
            if last is not None and batch.version <= last:
                return
            self._versions[call.id] = batch.version
            self._versions.move_to_end(call.id)
            while len(self._versions) > VERSIONS_KEPT:
                self._versions.popitem(last=False)
        for event in batch.events:
            recipients = [
                conn for user in sorted(event.to.users)
                for conn in self.subscriptions.users.get(user, ())
                if not conn.closing and event.to.includes(user, conn.app, conn.id)
            ]
            if recipients:
                self._send(recipients, event.wire)
        if call is not None and self.media is not None:
            self._follow_media(batch)
        for follower in self.followers:
            try:
                follower(batch)
            except Exception:
                log.exception("a follower of a user batch failed")

    def _follow_media(self, batch: UserBatch) -> None:
        call = batch.call
        assert call is not None
        if call.live:
            changed = getattr(self.media, "call_changed", None)
            if changed is not None:
                self.tasks.follow(changed, call)
        else:
            end = getattr(self.media, "end_call", None)
            if end is not None:
                self.tasks.follow(end, call.id)

    def _send(self, recipients: list[Connection], wire: Any) -> None:
        by_encoding: dict[bool, list[Connection]] = {}
        for conn in recipients:
            by_encoding.setdefault(conn.events_binary, []).append(conn)
        for binary, conns in by_encoding.items():
            delivered, slow = send_all(conns, codec.encode(dict(wire), binary))
            self.metrics.events_delivered += delivered
            self.metrics.slow_clients_closed += slow
