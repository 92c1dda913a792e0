"""Edge listeners on this node: a listen-only `webrtc_offer` (an audience member, `recvonly`)
for a room whose media another node owns is answered here, and the owner sends this node one
copy of the room's encoded mix however many listeners it has here (docs/protocol.md,
"Listening without WebRTC, recording"; docs/deployment.md, "Edge listeners").

The parts: a second MediaEngine whose sessions are media.edge.EdgeSession (no clock, no
mixer: fed by the relay), the relay socket (cluster/relay.py), and the routing rule
(`offer`). Speakers' offers, and every offer while this node owns the room or nobody does,
still go to the owner through the cluster. The edge engine follows the room like the main one
(a delivery follower): members who leave lose their connection here too.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

from cluster.cluster import Cluster
from cluster.relay import MixRelay
from media.edge import EdgeSession, listen_only
from media.engine import MediaEngine
from rooms.events import EventType
from rooms.machine import Event
from rooms.model import Room
from server.tasks import maybe_await

log = logging.getLogger(__name__)


class EdgeListeners:
    def __init__(self, settings: Any, cluster: Cluster, owner_engine: Any | None, *,
                 advertised: str) -> None:
        self.cluster = cluster
        self.engine = MediaEngine(settings, session_factory=lambda room_id: EdgeSession(room_id))
        self.relay = MixRelay(
            cluster.store,
            host=settings.host,
            advertised=advertised,
            port=int(getattr(settings, "relay_port", 0) or 0),
            owner_of=cluster.owner_of,
            owns=cluster.owns,
            wanted=lambda: list(self.engine.rooms),
            on_packet=self._packet,
            engine=owner_engine,
        )
        for kind in ("edge", "edge-", "edge-moved"):
            cluster.forwarder.handlers[kind] = self.relay.on_message
        self._follow_tasks: set[asyncio.Task[Any]] = set()
        self._versions: dict[str, int] = {}  # the newest room version seen, per edge room

    async def start(self) -> None:
        """Bind the relay socket and register its address (before the cluster's first
        heartbeat writes this node's info)."""
        host, port = await self.relay.start()
        self.cluster.nodes.info["relay"] = [host, port]

    async def close(self) -> None:
        await self.relay.close()
        await self.engine.close()

    # --- routing -----------------------------------------------------------------------------

    async def offer(self, room: Room, user: str, sdp: str) -> str | None:
        """The answer to an edge listener's offer, answered here; None when the offer must go
        to the room's media owner (and then any edge connection of the user here goes)."""
        self._seen(room)
        if listen_only(sdp) and user not in room.speakers():
            owner = await self.cluster.owner_of(room.id)
            if owner is not None and owner != self.cluster.node_id \
                    and await self.cluster.nodes.alive(owner):
                answer = await self.engine.offer(room, user, sdp)
                try:
                    await self.relay.moved_here(room.id, owner, user)
                    await self.relay.subscribe_now(room.id)
                except Exception as exc:  # the refresh loop subscribes again
                    log.warning("room %s: edge subscription failed: %s", room.id, exc)
                return str(answer)
        await maybe_await(self.engine.drop_user(room.id, user))
        return None

    # --- following rooms ---------------------------------------------------------------------

    def follow(self, room_id: str, room: Room | None, events: Sequence[Event]) -> None:
        """A delivery follower: the edge connections follow the room as the owner's do."""
        if any(event.type == EventType.ROOM_CLOSED for event in events):
            self._versions.pop(room_id, None)
            if room_id in self.engine.rooms:
                self._background(self.engine.close_room(room_id))
            return
        if room_id not in self.engine.rooms:
            return
        if room is not None and self._seen(room):
            # (None: a notice without the room, speaking levels.)
            self._background(self.engine.room_changed(room))

    def _seen(self, room: Room) -> bool:
        """Whether ``room`` is the newest state seen here: another node's older batch can
        arrive after this node's own newer commit (a member who just joined here), and must
        not take that member's connection away."""
        if room.version < self._versions.get(room.id, -1):
            return False
        self._versions[room.id] = room.version
        return True

    def _background(self, task: Any) -> None:
        if isinstance(task, asyncio.Task):
            self._follow_tasks.add(task)
            task.add_done_callback(self._follow_tasks.discard)

    # --- the relay's packets -----------------------------------------------------------------

    def _packet(self, room_id: str, source: int, tick: int, payload: bytes) -> None:
        session = self.engine.session(room_id)
        if isinstance(session, EdgeSession):
            session.feed(tick, payload, source)

    def stats(self) -> dict[str, float]:
        """Edge figures for /metrics (through the main engine's `extra_stats`)."""
        edge = self.engine.stats()
        return {
            "media_edge_rooms": edge["media_rooms"],
            "media_edge_peers": edge["media_peers"],
            "media_edge_packets_sent": edge.get("media_packets_sent", 0.0),
            "media_edge_send_cpu_seconds": edge.get("media_send_cpu_seconds", 0.0),
            "media_relay_sent": float(self.relay.sent),
            "media_relay_rejected": float(self.relay.rejected),
        }
