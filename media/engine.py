"""MediaEngine: the rooms' WebRTC audio on this node.

One peer connection per member per room (a re-offer replaces it), one RoomMixSession per
room with at least one peer. The engine follows the room state it is given (``room_changed``):
who is heard is ``room.speakers()``, who may connect is ``room.members``. It never changes
room state itself.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from typing import Any

from aiortc import RTCPeerConnection
from aiortc.mediastreams import MediaStreamTrack

from calls.model import CallState
from media.answer import answer_offer
from media.background import Background, done, quiet_gather
from media.call_media import CallMedia
from media.calls import CallEngine
from media.catalogue import Catalogue
from media.engine_room import EngineRoom, MemberPeer, RoomLike
from media.offer_policy import OfferPolicy
from media.props import MusicEnded, PropsMix, follow_call, play_call_sound
from media.session import LevelsCallback, RoomMixSession
from media.stats import Histogram, SessionStats, node_histograms, node_stats, retire
from media.taps import MixTap
from protocol.errors import ErrorCode, ProtocolError

log = logging.getLogger(__name__)


class MediaEngine:
    """Per-room media sessions behind the gateway.

    ``offer`` is a coroutine. ``room_changed``, ``drop_user`` and ``close_room`` take effect
    at once (no more audio in or out) and close peer connections in the background; they
    return an asyncio Task that finishes when those are closed (awaiting it is optional).
    """

    def __init__(
        self,
        settings: Any = None,
        *,
        announce_address: str | None = None,
        on_levels: LevelsCallback | None = None,
        session_factory: Callable[[str], RoomMixSession] | None = None,
    ) -> None:
        # ``settings``: server.settings.Settings or anything with ``announce_address``;
        # an explicit keyword wins.
        if announce_address is None and settings is not None:
            announce_address = getattr(settings, "announce_address", None)
        self.announce_address = announce_address
        # What an offer may ask of this node (candidates, networks, time to connect).
        self.policy = OfferPolicy.of(settings) if settings is not None else OfferPolicy()
        self.on_levels = on_levels
        # Sounds and music (use_catalogue); without them, rooms still take voice effects.
        self.catalogue: Catalogue | None = None
        self.on_music_ended: MusicEnded | None = None
        # Builds a room's session (benchmarks plug in variants); None: a RoomMixSession.
        self.session_factory = session_factory
        self.rooms: dict[str, EngineRoom] = {}
        # More figures for /metrics from parts beside the engine (the edge listeners').
        self.extra_stats: list[Callable[[], Mapping[str, float]]] = []
        self._closing = Background()
        self._closed = False
        # The calls' media (media/calls.py): offer_call, call_changed, end_call.
        self.calls = CallEngine(announce_address=announce_address, policy=self.policy)
        # The counters of sessions that stopped: /metrics' sums must never go down.
        self._retired = SessionStats()

    # --- signaling ---------------------------------------------------------------------------

    async def offer(self, room: RoomLike, user: str, sdp: str) -> str:
        """Answer ``user``'s full offer for ``room``; replaces their previous connection."""
        if self._closed:
            raise ProtocolError(ErrorCode.INTERNAL, "media engine is closed")
        if user not in room.members:
            raise ProtocolError(ErrorCode.NOT_IN_ROOM, "not a member of this room")
        media = self._room(room)
        media.answering += 1
        try:
            return await self._answer(media, room, user, sdp)
        finally:
            media.answering -= 1
            if media.answering == 0 and not media.peers and self.rooms.get(room.id) is media:
                self._maybe_stop(room.id)

    async def _answer(self, media: EngineRoom, room: RoomLike, user: str, sdp: str) -> str:
        if media.newer(room):
            media.members = set(room.members)
            media.session.set_heard(room.speakers())
            self._follow_props(media.session, room)
        session = media.session
        inbound, sink = session.new_input(user)
        outbound: list[MediaStreamTrack] = []

        def make_outbound() -> MediaStreamTrack:
            track = session.outbound_track()
            outbound.append(track)
            return track

        holder: list[MemberPeer] = []
        try:
            peer, answer = await answer_offer(
                sdp,
                outbound=make_outbound,
                inbound=sink,
                announce_address=self.announce_address,
                on_state=lambda pc: self._state_changed(room.id, holder, pc),
                policy=self.policy,
            )
        except ValueError as exc:
            raise ProtocolError(ErrorCode.BAD_REQUEST, f"sdp: {exc}", field="sdp") from exc
        current = self.rooms.get(room.id)
        if current is not media or user not in media.members or self._closed:
            # Left, was dropped or the room closed while we answered.
            await peer.close()
            raise ProtocolError(ErrorCode.NOT_IN_ROOM, "not a member of this room")
        member = MemberPeer(
            user,
            peer,
            inbound if peer.receives_from_peer else None,
            session.make_output(outbound[0], peer.transceiver) if outbound else None,
        )
        holder.append(member)
        old = media.peers.get(user)
        if old is not None:
            self._detach(media, old)
        media.peers[user] = member
        if member.inbound is not None:
            session.attach_input(member.inbound)
        if member.outbound is not None:
            session.attach_output(user, member.outbound)
        # The clock starts when a peer connects (_state_changed), not when an offer is
        # answered: offers that never connect must cost no ticks.
        if peer.connected:
            self._connected(media, member)
        return answer

    # --- following the room ------------------------------------------------------------------

    def use_catalogue(self, catalogue: Catalogue, *,
                      on_music_ended: MusicEnded | None = None) -> None:
        """The server's sounds and music, and whom to tell when a room's track ended."""
        self.catalogue = catalogue
        self.on_music_ended = on_music_ended

    def play_sound(self, room_id: str, sound_id: str) -> bool:
        """Play a catalogue sound into the room's mix, once (False: no media here for the
        room, or no such sound)."""
        media = self.rooms.get(room_id)
        props = media.session.props if media is not None else None
        return props is not None and props.play_sound(sound_id)

    def _follow_props(self, session: RoomMixSession, room: RoomLike) -> None:
        state = getattr(room, "props", None)  # rooms.propstate.RoomProps
        if state is not None and session.props is not None:
            session.props.follow(state)

    def _music_ended(self, room_id: str, play: int) -> None:
        if self.on_music_ended is not None:
            self.on_music_ended(room_id, play)

    def room_changed(self, room: RoomLike) -> asyncio.Task[None]:
        media = self.rooms.get(room.id)
        if media is None or not media.newer(room):
            return done()
        media.members = set(room.members)
        media.session.set_heard(room.speakers())
        self._follow_props(media.session, room)
        gone = [m for u, m in media.peers.items() if u not in media.members]
        for member in gone:
            self._detach(media, member)
        return self._after_detach(room.id, gone)

    def drop_user(self, room_id: str, user: str) -> asyncio.Task[None]:
        media = self.rooms.get(room_id)
        if media is None:
            return done()
        media.members.discard(user)
        member = media.peers.get(user)
        if member is None:
            return done()
        self._detach(media, member)
        return self._after_detach(room_id, [member])

    def close_room(self, room_id: str) -> asyncio.Task[None]:
        media = self.rooms.get(room_id)
        if media is None:
            return done()
        media.members.clear()
        media.session.taps.end()
        gone = list(media.peers.values())
        for member in gone:
            self._detach(media, member)
        return self._after_detach(room_id, gone)

    # --- taps: the encoded mix for consumers other than WebRTC peers -----------------------

    def add_tap(self, room: RoomLike, tap: MixTap) -> None:
        """Feed ``tap`` this room's encoded mix every tick (and its heard speakers' payloads)
        until ``remove_tap`` or the room's media ends (``tap.ended()``). Starts the room's
        session if it has none: a room nobody connected media to still ticks (silence)."""
        if self._closed:
            raise ProtocolError(ErrorCode.INTERNAL, "media engine is closed")
        media = self._room(room)
        if not media.peers and not media.session.taps:
            media.session.set_heard(room.speakers())
        media.session.add_tap(tap)
        media.session.start()

    def remove_tap(self, room_id: str, tap: MixTap) -> asyncio.Task[None]:
        media = self.rooms.get(room_id)
        if media is None:
            return done()
        media.session.remove_tap(tap)
        self._settle_clock(media)
        stopping = self._maybe_stop(room_id)
        return stopping if stopping is not None else done()

    # --- calls -------------------------------------------------------------------------------

    async def offer_call(self, call: CallState, user: str, sdp: str) -> str:
        """Answer a party's full offer for an active ``call``; replaces their previous
        connection. ProtocolError ``no_such_call`` (not a party, the call ended, here or
        meanwhile), ``forbidden`` (still ringing), ``bad_request`` (field ``sdp``)."""
        answer = await self.calls.offer(call, user, sdp)
        self._follow_call_props(call)
        return answer

    def call_changed(self, call: CallState) -> asyncio.Task[None]:
        """Follow a call's new state (an ended call: both connections closed)."""
        self._follow_call_props(call)
        return self.calls.changed(call)

    def end_call(self, call_id: str) -> asyncio.Task[None]:
        """Stop a call's media at once; the task finishes when its connections are closed."""
        return self.calls.end(call_id)

    def play_call_sound(self, call_id: str, sound_id: str) -> bool:
        """Mix a catalogue sound, once, into what each party of the call hears (False: no
        media here for the call, or no such sound)."""
        media = self.calls.media(call_id)
        sound = self.catalogue.sounds.get(sound_id) if self.catalogue is not None else None
        if media is None or sound is None:
            return False
        play_call_sound(media, sound.samples)
        return True

    def _follow_call_props(self, call: CallState) -> None:
        media = self.calls.media(call.id)
        if media is not None and call.live:
            follow_call(media, call)

    def call_media(self, call_id: str) -> CallMedia | None:
        """A call's media on this node, where props put voice effects and sounds."""
        return self.calls.media(call_id)

    async def close(self) -> None:
        self._closed = True
        await self.calls.close()
        for room_id in list(self.rooms):
            self.close_room(room_id)
        await self._closing.drain()

    # --- introspection -----------------------------------------------------------------------

    def session(self, room_id: str) -> RoomMixSession | None:
        media = self.rooms.get(room_id)
        return media.session if media is not None else None

    def speaking_levels(self, room_id: str) -> dict[str, float]:
        """The room's users speaking now and their last reported levels ({} without media)."""
        session = self.session(room_id)
        return session.speaking_levels() if session is not None else {}

    def stats(self) -> dict[str, float]:
        """Node-wide figures for /metrics."""
        out: dict[str, float] = {
            "media_rooms": float(len(self.rooms)),
            "media_peers": float(sum(len(m.peers) for m in self.rooms.values())),
        }
        out.update(node_stats(self._all_stats()))
        out.update(self.calls.stats_dict())
        for extra in self.extra_stats:
            out.update(extra())
        return out

    def histograms(self) -> dict[str, Histogram]:
        """Node-wide histograms for /metrics: each tick's wall time, each send loop's CPU."""
        return node_histograms(self._all_stats())

    def _all_stats(self) -> list[SessionStats]:
        return [self._retired, *(m.session.stats for m in self.rooms.values())]

    # --- internals ---------------------------------------------------------------------------

    def _room(self, room: RoomLike) -> EngineRoom:
        media = self.rooms.get(room.id)
        if media is None:
            if self.session_factory is not None:
                session = self.session_factory(room.id)
            else:
                session = RoomMixSession(room.id, on_levels=self.on_levels)
            session.props = PropsMix(room.id, self.catalogue, self._music_ended)
            media = self.rooms[room.id] = EngineRoom(session=session, members=set(room.members))
        return media

    def _detach(self, media: EngineRoom, member: MemberPeer) -> None:
        """Cut a member's audio at once; the peer connection is closed later."""
        if member.closed:
            return
        member.closed = True
        if media.peers.get(member.user) is member:
            del media.peers[member.user]
        if member.inbound is not None:
            media.session.detach_input(member.inbound)
        if member.outbound is not None:
            media.session.detach_output(member.user, member.outbound)
        if member.connected:
            self._settle_clock(media)
        task = asyncio.ensure_future(member.peer.close())
        self._closing.track(task)

    def _after_detach(self, room_id: str, gone: list[MemberPeer]) -> asyncio.Task[None]:
        stopping = self._maybe_stop(room_id)
        waits: list[Any] = [stopping] if stopping is not None else []
        waits += self._closing.pending() if gone else []
        if not waits:
            return done()
        return asyncio.ensure_future(quiet_gather(waits))

    def _maybe_stop(self, room_id: str) -> asyncio.Task[None] | None:
        media = self.rooms.get(room_id)
        if media is None or media.peers or media.answering or media.session.taps:
            # (an offer being answered stops it when done if it left no peer)
            return None
        del self.rooms[room_id]
        retire(self._retired, media.session.stats)
        task = asyncio.ensure_future(media.session.stop())
        self._closing.track(task)
        return task

    def _connected(self, media: EngineRoom, member: MemberPeer) -> None:
        member.connected = True
        media.session.start()

    def _settle_clock(self, media: EngineRoom) -> None:
        """Pause the room's clock when nobody is left to tick for (no connected peer, no
        tap); the next peer to connect starts it again."""
        if not media.session.taps and not any(p.connected for p in media.peers.values()):
            media.session.pause()

    def _state_changed(self, room_id: str, holder: list[MemberPeer], pc: RTCPeerConnection) -> None:
        if not holder:
            return  # still being answered: _answer looks at the state itself
        member = holder[0]
        media = self.rooms.get(room_id)
        if media is None or member.closed:
            return
        if pc.connectionState == "connected":
            self._connected(media, member)
            return
        if pc.connectionState not in ("failed", "closed"):
            return
        # A failure is the operator's business; a peer closing is every leave's (DEBUG).
        log.log(logging.INFO if pc.connectionState == "failed" else logging.DEBUG,
                "room %s: %s's media connection %s", room_id, member.user, pc.connectionState)
        self._detach(media, member)
        self._maybe_stop(room_id)

